export { TarError, type TarErrorCode } from './errors.js';
export { BLOCK_SIZE, END_OF_ARCHIVE, paddedSize, parseHeaderBlock, parseNumeric, parsePaxRecords, type HeaderBlock } from './header.js';
export { entryEnd, type TarEnd, type TarEntry, type TarEntryType } from './entry.js';
export { type EntryLocation, fileReader, type PositionalReader, scanTarFile, type TarScan, walkPositional, walkStream, type WalkItem, type WalkOptions } from './walk.js';
export { listTarStream, readTarStream, TarStreamParser, type TarStreamEvent, type TarStreamOptions } from './stream-parser.js';
