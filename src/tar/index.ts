export { TarError, type TarErrorCode } from './errors.js';
export { BLOCK_SIZE, END_OF_ARCHIVE, paddedSize, parseHeaderBlock, parseNumeric, parsePaxRecords, type HeaderBlock } from './header.js';
export { entryEnd, type TarEnd, type TarEntry, type TarEntryType } from './entry.js';
export { iterateTarFile, scanTarFile, type ScanOptions, type TarScan } from './scan-file.js';
export { listTarStream, readTarStream, TarStreamParser, type TarStreamEvent, type TarStreamOptions } from './stream-parser.js';
export {
  decompressArchiveStream,
  detectCompression,
  openArchiveStream,
  type Compression,
  type OpenArchiveOptions,
  type OpenedArchive,
} from './open-archive.js';
export { reorderTar, type ReorderOptions, type ReorderResult } from './reorder.js';
export { withMetadataBoundary, type MetadataBoundaryOptions } from './metadata-boundary.js';
