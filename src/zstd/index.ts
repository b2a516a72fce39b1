export { ZstdError, type ZstdErrorCode } from './errors.js';
export {
  isSkippableMagic,
  MAX_BUNDLE_WINDOW,
  parseFrameHeader,
  ZSTD_FRAME_MAGIC,
  type FrameHeader,
} from './frame-header.js';
export {
  decodeSeekTable,
  encodeSeekTable,
  SEEK_TABLE_SKIPPABLE_MAGIC,
  SEEKABLE_MAGIC,
  type FrameInfo,
  type SeekTable,
} from './seek-table.js';
export {
  DEFAULT_FRAME_SIZE,
  DEFAULT_LEVEL,
  defaultParallelism,
  FRAME_BOUNDARY,
  MAX_FRAME_SIZE,
  writeZstdFrames,
  writeZstdParts,
  StreamedPart,
  ZstdFrameWriter,
  type FrameBoundary,
  type ZstdFrameIndex,
  type ZstdFrameWriterOptions,
  type ZstdInputPart,
} from './frame-writer.js';
export {
  readFirstFrame,
  readFrame,
  readRange,
  readSeekTable,
  STREAM_CHUNK,
  STREAM_DEPTH,
  WALK_CHUNK,
  WALK_DEPTH,
  FrameStream,
  SeekableZstdFile,
  type FirstFrame,
  type FileRef,
  type FirstFrameOptions,
  type ZstdReadOptions,
} from './frame-reader.js';
export { createZstdDecoder, DEFAULT_WINDOW_LOG_MAX, type ZstdDecoderOptions } from './stream-decoder.js';
