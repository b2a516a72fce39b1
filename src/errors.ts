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

export function exitCodeFor(err: unknown): number {
  // The tar and zstd readers have their own error classes; a malformed or truncated input is an integrity failure.
  const code = (err as { code?: unknown } | undefined)?.code;
  if (!(err instanceof AirpackError)) {
    if (typeof code === 'string' && /^(TAR|ZSTD)_/.test(code)) return code.endsWith('UNSUPPORTED_COMPRESSION') ? ExitCode.usage : ExitCode.integrity;
    if (typeof code === 'string' && /^E(NOENT|ACCES|ISDIR|NOTDIR|NOSPC|EXIST|PERM)$/.test(code)) return ExitCode.io;
    return ExitCode.internal;
  }
  switch (err.code) {
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
