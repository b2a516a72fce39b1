/**
 * Errors raised while reading, reordering or opening tar archives.
 * Every error carries a stable `code`; messages name the source, the entry and
 * the offset first, then what was expected and what was found.
 */

export type TarErrorCode =
  /** The input ended inside a header, an extended header or entry data. */
  | 'TAR_TRUNCATED'
  /** A header block's checksum does not match its contents. */
  | 'TAR_BAD_CHECKSUM'
  /** A numeric header field (size) is neither octal nor base-256. */
  | 'TAR_BAD_NUMBER'
  /** A size is negative or larger than can be handled exactly. */
  | 'TAR_BAD_SIZE'
  /** A PAX extended header record is malformed. */
  | 'TAR_BAD_PAX'
  /** A PAX or GNU long-name header is larger than the configured limit. */
  | 'TAR_EXTENDED_HEADER_TOO_LARGE'
  /** An extended header is not followed by the entry it describes. */
  | 'TAR_ORPHAN_EXTENDED_HEADER'
  /** The input holds no bytes at all. */
  | 'TAR_EMPTY'
  /** The metadata entries held in memory exceed the configured limit. */
  | 'TAR_METADATA_TOO_LARGE';

export interface TarErrorDetail {
  /** File path or a label such as "stream" naming the input. */
  source?: string;
  /** Entry name, when known. */
  entry?: string;
  /** Byte offset in the (decompressed) tar stream. */
  offset?: number;
  cause?: unknown;
}

export class TarError extends Error {
  readonly code: TarErrorCode;
  readonly source: string | undefined;
  readonly entry: string | undefined;
  readonly offset: number | undefined;

  constructor(code: TarErrorCode, message: string, detail: TarErrorDetail = {}) {
    super(message, detail.cause === undefined ? undefined : { cause: detail.cause });
    this.name = 'TarError';
    this.code = code;
    this.source = detail.source;
    this.entry = detail.entry;
    this.offset = detail.offset;
  }
}

/** Formats "source: entry "name" at offset N" (omitting unknown parts) for message prefixes. */
export function where(detail: TarErrorDetail): string {
  const parts: string[] = [];
  if (detail.source !== undefined) parts.push(detail.source);
  let at = '';
  if (detail.entry !== undefined) at += `entry ${JSON.stringify(detail.entry)}`;
  if (detail.offset !== undefined) at += `${at ? ' ' : ''}at offset ${detail.offset}`;
  if (at) parts.push(at);
  return parts.join(': ');
}
