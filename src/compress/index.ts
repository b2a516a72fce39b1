export { type Compression, detectCompression, MAGIC_PEEK_SIZE } from './detect.js';
export { assertDecodable, decompressStream, type DecodeOptions } from './decode.js';
export { decompressPeeked, type Decompressed, openDecompressed, type OpenOptions, readHead } from './open.js';
