/**
 * Errors raised by the zstd bundle layer. Every error carries a stable
 * `code`; messages name the file (and frame) first, then expected vs found.
 */

export type ZstdErrorCode =
  /** A frame needs a bigger window than the decoder is allowed to allocate. */
  | 'ZSTD_WINDOW_TOO_LARGE'
  /** The input ended inside a frame. */
  | 'ZSTD_TRUNCATED'
  /** The decoder rejected the data (corruption, unsupported feature). */
  | 'ZSTD_CORRUPT'
  /** A frame header is not a valid zstd frame header. */
  | 'ZSTD_BAD_FRAME_HEADER'
  /** A seek table footer was found but the table is inconsistent with the file. */
  | 'ZSTD_BAD_SEEK_TABLE'
  /** The file has no seek table, and the operation needs one. */
  | 'ZSTD_NO_SEEK_TABLE'
  /** A frame index or uncompressed range lies outside the file. */
  | 'ZSTD_OUT_OF_RANGE'
  /** A frame decompresses to more bytes than the caller allowed. */
  | 'ZSTD_FRAME_TOO_LARGE'
  /** A frame decompressed to a different size than recorded. */
  | 'ZSTD_SIZE_MISMATCH'
  /** The native compressor failed. */
  | 'ZSTD_COMPRESS_FAILED'
  /** An option is out of range. */
  | 'ZSTD_INVALID_OPTION';

export class ZstdError extends Error {
  readonly code: ZstdErrorCode;
  constructor(code: ZstdErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ZstdError';
    this.code = code;
  }
}
