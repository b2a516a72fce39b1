/**
 * One error type for the whole library. Every error carries a stable `code`
 * (for programs and tests) and a message that puts the context first, then
 * what was expected and what was found. Causes are kept in `cause`.
 */
export type ErrorCode =
  | 'INVALID_REFERENCE'
  | 'INVALID_PLATFORM'
  | 'INVALID_ARGUMENT'
  | 'PLATFORM_NOT_FOUND'
  | 'NOT_FOUND'
  | 'MANIFEST_INVALID'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'DIGEST_MISMATCH'
  | 'SIZE_MISMATCH'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'REGISTRY_ERROR'
  | 'NETWORK_ERROR'
  | 'CREDENTIAL_HELPER_FAILED'
  | 'IMAGE_LIST_INVALID'
  | 'ARCHIVE_INVALID'
  | 'IO_ERROR';

export class AirpackError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AirpackError';
    this.code = code;
  }
}

export function isAirpackError(err: unknown, code?: ErrorCode): err is AirpackError {
  return err instanceof AirpackError && (code === undefined || err.code === code);
}

/**
 * Process exit codes, documented in the README. Scripts branch on them.
 */
export const ExitCode = {
  ok: 0,
  /** `find`: the image is not in any of the files. */
  notFound: 1,
  /** Bad command line, bad reference, bad platform, bad image list. */
  usage: 2,
  /** Registry said no: unknown manifest, unauthorized, denied, no such platform. */
  registry: 3,
  /** Bytes did not match their digest or size; an archive is malformed. */
  integrity: 4,
  /** Network failure after retries, or local I/O failure. */
  io: 5,
  /** Anything else: a bug. */
  internal: 70,
} as const;

/** File-system errors that mean "this local file cannot be had": exit 5, never "corrupt". */
const FILE_ERRORS = /^E(NOENT|ACCES|ISDIR|NOTDIR|NOSPC|EXIST|PERM|ROFS|MFILE|NFILE|LOOP|NAMETOOLONG|FBIG|DQUOT|IO)$/;

/**
 * The one translator from any failure to an AirpackError, with the thing it
 * concerns (a file, a reference) named first. The tar and zstd readers throw
 * their own error classes: a malformed or truncated input is ARCHIVE_INVALID
 * (exit 4); a file that cannot be opened or read is IO_ERROR (exit 5); a
 * plain Error from below is kept as it is, so a bug is still exit 70.
 */
export function toAirpackError(err: unknown, subject?: string): AirpackError | Error {
  if (err instanceof AirpackError) return err;
  const prefix = (message: string): string => (subject && !message.startsWith(subject) ? `${subject}: ${message}` : message);
  const code = (err as { code?: unknown } | undefined)?.code;
  const name = (err as Error | undefined)?.name;
  // A bad option to the compressor (a zstd level out of range) is the caller's: a usage error.
  if (code === 'ZSTD_INVALID_OPTION') return new AirpackError('INVALID_ARGUMENT', prefix((err as Error).message), { cause: err });
  if (typeof code === 'string' && (name === 'TarError' || name === 'ZstdError')) {
    return new AirpackError('ARCHIVE_INVALID', prefix((err as Error).message), { cause: err });
  }
  // zlib's errors (Z_DATA_ERROR "incorrect data check", Z_BUF_ERROR "unexpected end of file"): damaged gzip data.
  if (typeof code === 'string' && /^Z_[A-Z_]+$/.test(code)) {
    return new AirpackError('ARCHIVE_INVALID', prefix(`gzip data is not decodable (${(err as Error).message})`), { cause: err });
  }
  if (typeof code === 'string' && FILE_ERRORS.test(code)) {
    const e = err as NodeJS.ErrnoException;
    const what = fileErrorText(e);
    return new AirpackError('IO_ERROR', prefix(subject || !e.path ? what : `${e.path}: ${what}`), { cause: err });
  }
  return err instanceof Error ? err : new Error(String(err));
}

/** Whether `err` is a file-system error (ENOENT, EISDIR, EACCES, ENOSPC, ...). */
export function isFileError(err: unknown): err is NodeJS.ErrnoException {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && FILE_ERRORS.test(code);
}

/** What a file-system error means, in words: "is a directory, expected a file" rather than EISDIR. */
export function fileErrorText(err: NodeJS.ErrnoException): string {
  const code = err.code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EISDIR') return 'is a directory, expected a file';
  if (code === 'ENOTDIR') return 'a part of the path is not a directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'ENOSPC') return 'no space left on the device';
  return err.message;
}

export function exitCodeFor(err: unknown): number {
  const translated = toAirpackError(err);
  if (!(translated instanceof AirpackError)) return ExitCode.internal;
  switch (translated.code) {
    case 'INVALID_REFERENCE':
    case 'INVALID_PLATFORM':
    case 'INVALID_ARGUMENT':
    case 'IMAGE_LIST_INVALID':
      return ExitCode.usage;
    case 'PLATFORM_NOT_FOUND':
    case 'NOT_FOUND':
    case 'UNAUTHORIZED':
    case 'DENIED':
    case 'REGISTRY_ERROR':
    case 'UNSUPPORTED_MEDIA_TYPE':
    case 'CREDENTIAL_HELPER_FAILED':
      return ExitCode.registry;
    case 'DIGEST_MISMATCH':
    case 'SIZE_MISMATCH':
    case 'MANIFEST_INVALID':
    case 'ARCHIVE_INVALID':
      return ExitCode.integrity;
    case 'NETWORK_ERROR':
    case 'IO_ERROR':
      return ExitCode.io;
  }
}

/** Edit distance, for "did you mean" on a mistyped name. */
function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/** The nearest of `known` within two edits of `value`, if any: `amd46` -> `amd64`, `cache-dri` -> `cache-dir`. */
export function nearestName(value: string, known: readonly string[]): string | undefined {
  const best = [...known].sort((x, y) => editDistance(value, x) - editDistance(value, y))[0];
  return best !== undefined && editDistance(value, best) <= 2 ? best : undefined;
}

/** ` (did you mean "x"?)`, or nothing when no known name is near. */
export function didYouMean(value: string, known: readonly string[]): string {
  const best = nearestName(value, known);
  return best !== undefined ? ` (did you mean "${best}"?)` : '';
}
