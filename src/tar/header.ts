/**
 * One 512-byte tar header block: checksum, numeric fields (octal and GNU
 * base-256), names, and PAX extended-header records. Pure functions over
 * buffers; no I/O.
 */
import { TarError, where } from './errors.js';

/** Size of a tar block: headers, data padding and the end marker are all in these units. */
export const BLOCK_SIZE = 512;

/** The end-of-archive marker: two zero blocks. */
export const END_OF_ARCHIVE: Buffer = Buffer.alloc(2 * BLOCK_SIZE);

/** Rounds a data size up to whole blocks. */
export function paddedSize(size: number): number {
  const rest = size % BLOCK_SIZE;
  return rest === 0 ? size : size + (BLOCK_SIZE - rest);
}

const ZERO_BLOCK = Buffer.alloc(BLOCK_SIZE);

/** Whether every byte of the block is zero (an end-of-archive block). */
export function isZeroBlock(block: Buffer): boolean {
  return block.length === BLOCK_SIZE ? block.equals(ZERO_BLOCK) : block.every((b) => b === 0);
}

/** Header format, from the magic field. */
export type HeaderFormat = 'ustar' | 'gnu' | 'v7';

/** The fields of one header block, decoded but not yet combined with extended headers. */
export interface HeaderBlock {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  /** Size field: bytes of data that follow (for types that carry data). */
  size: number;
  mtime: number;
  /** Raw type flag character; '\0' for old regular files. */
  typeflag: string;
  linkname: string;
  format: HeaderFormat;
  /** POSIX ustar prefix; joined to `name` with '/'. Empty for GNU and v7 headers. */
  prefix: string;
  uname: string;
  gname: string;
}

const FIELD = {
  name: [0, 100],
  mode: [100, 108],
  uid: [108, 116],
  gid: [116, 124],
  size: [124, 136],
  mtime: [136, 148],
  chksum: [148, 156],
  typeflag: [156, 157],
  linkname: [157, 257],
  magic: [257, 263],
  version: [263, 265],
  uname: [265, 297],
  gname: [297, 329],
  prefix: [345, 500],
} as const;

type FieldName = keyof typeof FIELD;

/*
 * Fields are read in place, by offsets: a view per field was ~14 typed-array
 * objects per header, most of the garbage of a header scan (issue 12).
 */

/** The field's bytes, for messages only. */
function field(block: Buffer, f: FieldName): Buffer {
  const [start, end] = FIELD[f];
  return block.subarray(start, end);
}

/** Decodes a NUL-terminated string field as UTF-8. */
function cString(block: Buffer, f: FieldName): string {
  const [start, end] = FIELD[f];
  const nul = block.indexOf(0, start);
  return block.toString('utf8', start, nul === -1 || nul > end ? end : nul);
}

/**
 * Parses a numeric field: octal digits (leading spaces/NULs allowed, ended by
 * NUL or space) or GNU base-256 (high bit of the first byte set).
 * Returns null when the field is not a number at all. `start`/`end` pick the
 * field out of a larger buffer.
 */
export function parseNumeric(buf: Buffer, from = 0, to = buf.length): number | null {
  const start = Math.max(0, from);
  const end = Math.min(buf.length, to);
  const first = buf[start];
  if (start < end && first !== undefined && (first & 0x80) !== 0) {
    // base-256: big-endian two's complement, first byte's high bit is the marker.
    const negative = (first & 0x40) !== 0;
    let value = negative ? (first & 0x7f) - 0x80 : first & 0x7f;
    for (let i = start + 1; i < end; i++) {
      value = value * 256 + (buf[i] ?? 0);
      if (!Number.isSafeInteger(value)) return Number.NaN;
    }
    return value;
  }
  let i = start;
  while (i < end && (buf[i] === 0x20 || buf[i] === 0)) i++;
  // An all-blank field counts as zero; some writers leave unused fields empty.
  if (i === end) return 0;
  let value = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = buf[i] ?? 0;
    if (c === 0 || c === 0x20) break;
    if (c < 0x30 || c > 0x37) return null;
    value = value * 8 + (c - 0x30);
    digits++;
  }
  // Anything after the terminator other than more terminators means garbage.
  for (; i < end; i++) {
    const c = buf[i];
    if (c !== 0 && c !== 0x20) return null;
  }
  return digits === 0 ? null : value;
}

function numeric(block: Buffer, f: FieldName): number | null {
  return parseNumeric(block, FIELD[f][0], FIELD[f][1]);
}

/** Sum of the header bytes with the checksum field read as spaces, unsigned and signed. */
function checksums(block: Buffer): { unsigned: number; signed: number } {
  // One plain pass over the block, the checksum field swapped for spaces after: a reorder scans
  // thousands of headers once, in a fresh process, so this runs mostly unoptimised (issue 12).
  let unsigned = 0;
  let high = 0;
  for (let i = 0; i < BLOCK_SIZE; i++) {
    const b = block[i]!;
    unsigned += b;
    high += b >>> 7;
  }
  for (let i = 148; i < 156; i++) {
    const b = block[i]!;
    unsigned += 0x20 - b;
    high -= b >>> 7;
  }
  return { unsigned, signed: unsigned - 0x100 * high };
}

/** "ustar" at the magic field. */
const USTAR = [0x75, 0x73, 0x74, 0x61, 0x72];

function formatOf(block: Buffer): HeaderFormat {
  for (let i = 0; i < USTAR.length; i++) if (block[257 + i] !== USTAR[i]) return 'v7';
  // GNU: "ustar  \0" (magic and version run together); POSIX: "ustar\0" + "00".
  return block[262] === 0x20 && block[263] === 0x20 ? 'gnu' : 'ustar';
}

/**
 * Decodes and validates one header block. Throws TAR_BAD_CHECKSUM when the
 * block is not a header, TAR_BAD_NUMBER / TAR_BAD_SIZE for an unusable size.
 */
function cLatin1(buf: Buffer): string {
  const nul = buf.indexOf(0);
  return buf.toString('latin1', 0, nul === -1 ? buf.length : nul);
}

/** Bytes of a header that is not one, fit for a terminal: printable ASCII as is, the rest as \xNN. */
function shown(text: string): string {
  return text.replace(/[^\x20-\x7e]|["\\]/g, (c) => (c === '"' || c === '\\' ? `\\${c}` : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0').slice(-2)}`));
}

export function parseHeaderBlock(block: Buffer, offset: number, source: string): HeaderBlock {
  if (block.length !== BLOCK_SIZE) {
    throw new Error(`parseHeaderBlock: expected a ${BLOCK_SIZE}-byte block, got ${block.length}`);
  }
  const name = cString(block, 'name');
  const stored = numeric(block, 'chksum');
  const sums = checksums(block);
  if (stored === null || Number.isNaN(stored) || (stored !== sums.unsigned && stored !== sums.signed)) {
    const found = stored === null || Number.isNaN(stored) ? `unreadable field "${shown(field(block, 'chksum').toString('latin1'))}"` : `0${stored.toString(8)}`;
    throw new TarError(
      'TAR_BAD_CHECKSUM',
      `${where({ source, offset })}: not a valid tar header (name field "${shown(cLatin1(field(block, 'name')).slice(0, 40))}"): ` +
        `checksum expected 0${sums.unsigned.toString(8)}, found ${found}`,
      { source, offset, entry: name },
    );
  }
  const size = numeric(block, 'size');
  if (size === null) {
    throw new TarError(
      'TAR_BAD_NUMBER',
      `${where({ source, entry: name, offset })}: size field expected octal or base-256, found ${JSON.stringify(field(block, 'size').toString('latin1'))}`,
      { source, offset, entry: name },
    );
  }
  if (!Number.isSafeInteger(size) || size < 0) {
    throw new TarError(
      'TAR_BAD_SIZE',
      `${where({ source, entry: name, offset })}: size expected 0..${Number.MAX_SAFE_INTEGER}, found ${Number.isNaN(size) ? 'a larger base-256 value' : size}`,
      { source, offset, entry: name },
    );
  }
  const format = formatOf(block);
  const typeByte = block[156] ?? 0;
  return {
    name,
    mode: numeric(block, 'mode') ?? 0,
    uid: numeric(block, 'uid') ?? 0,
    gid: numeric(block, 'gid') ?? 0,
    size,
    mtime: numeric(block, 'mtime') ?? 0,
    typeflag: String.fromCharCode(typeByte),
    linkname: cString(block, 'linkname'),
    format,
    // GNU headers use the prefix area for atime/ctime; only POSIX ustar has a prefix.
    prefix: format === 'ustar' ? cString(block, 'prefix') : '',
    uname: format === 'v7' ? '' : cString(block, 'uname'),
    gname: format === 'v7' ? '' : cString(block, 'gname'),
  };
}

/**
 * Parses PAX extended header records ("<len> <key>=<value>\n") into `into`.
 * An empty value deletes the key (POSIX: it cancels a global setting).
 */
export function parsePaxRecords(
  data: Buffer,
  into: Map<string, string>,
  ctx: { source: string; offset: number; entry?: string },
): Map<string, string> {
  let pos = 0;
  const bad = (what: string): TarError =>
    new TarError('TAR_BAD_PAX', `${where({ ...ctx, offset: ctx.offset })}: PAX record at byte ${pos} of the extended header: ${what}`, {
      ...ctx,
    });
  while (pos < data.length) {
    // Trailing NULs after the last record are padding some writers leave in the size.
    if (data[pos] === 0) {
      for (let i = pos; i < data.length; i++) if (data[i] !== 0) throw bad('expected NUL padding, found data');
      break;
    }
    const space = data.indexOf(0x20, pos);
    if (space === -1 || space - pos > 20) throw bad('expected "<length> <key>=<value>\\n", found no length');
    const lenText = data.toString('latin1', pos, space);
    if (!/^[0-9]+$/.test(lenText)) throw bad(`expected a decimal length, found ${JSON.stringify(lenText)}`);
    const len = Number(lenText);
    const end = pos + len;
    if (len <= space - pos + 1 || end > data.length) {
      throw bad(`length ${len} expected to fit in the ${data.length - pos} remaining bytes`);
    }
    if (data[end - 1] !== 0x0a) throw bad('expected the record to end with a newline');
    const eq = data.indexOf(0x3d, space + 1);
    if (eq === -1 || eq >= end - 1) throw bad('expected "key=value"');
    const key = data.toString('utf8', space + 1, eq);
    const value = data.toString('utf8', eq + 1, end - 1);
    if (value === '') into.delete(key);
    else into.set(key, value);
    pos = end;
  }
  return into;
}

/** Parses a PAX decimal size value, or throws TAR_BAD_SIZE. */
export function parsePaxSize(value: string, ctx: { source: string; offset: number; entry?: string }): number {
  if (!/^[0-9]+$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new TarError(
      'TAR_BAD_SIZE',
      `${where(ctx)}: PAX size expected a decimal integer up to ${Number.MAX_SAFE_INTEGER}, found ${JSON.stringify(value)}`,
      ctx,
    );
  }
  return Number(value);
}
