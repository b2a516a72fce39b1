/**
 * Deterministic ustar headers for the entries airpack writes itself (short
 * names like `blobs/sha256/<64 hex>`, regular files and directories): fixed
 * mtime, uid/gid 0, empty owner names, fixed modes. Sizes past ustar's 8 GiB
 * octal field use the base-256 form every modern tar reads.
 */
export const BLOCK = 512;

/** SOURCE_DATE_EPOCH, when set, as reproducible-builds.org asks; else the epoch. */
export function archiveMtime(env: NodeJS.ProcessEnv = process.env): number {
  const epoch = Number(env.SOURCE_DATE_EPOCH);
  return Number.isFinite(epoch) && epoch > 0 ? Math.floor(epoch) : 0;
}

function octal(buf: Buffer, offset: number, width: number, value: number): void {
  buf.write(value.toString(8).padStart(width - 1, '0') + '\0', offset, width, 'ascii');
}

function writeSize(buf: Buffer, size: number): void {
  if (size < 8 ** 11) return octal(buf, 124, 12, size);
  // base-256: high bit set in the first byte, big-endian value in the rest.
  buf.fill(0, 124, 136);
  buf[124] = 0x80;
  let v = BigInt(size);
  for (let i = 135; i > 124; i--) {
    buf[i] = Number(v & 0xffn);
    v >>= 8n;
  }
}

export interface HeaderFields {
  name: string;
  size: number;
  type: 'file' | 'directory';
  mtime: number;
}

export function encodeHeader({ name, size, type, mtime }: HeaderFields): Buffer {
  const header = Buffer.alloc(BLOCK);
  let prefix = '';
  let base = name;
  if (Buffer.byteLength(name) > 100) {
    // ustar splits long paths at a slash into prefix (155) and name (100).
    const cut = name.lastIndexOf('/', 155);
    if (cut <= 0 || Buffer.byteLength(name.slice(cut + 1)) > 100) throw new RangeError(`tar entry name too long for ustar: ${name}`);
    prefix = name.slice(0, cut);
    base = name.slice(cut + 1);
  }
  header.write(base, 0, 100, 'utf8');
  octal(header, 100, 8, type === 'directory' ? 0o755 : 0o644);
  octal(header, 108, 8, 0);
  octal(header, 116, 8, 0);
  writeSize(header, type === 'directory' ? 0 : size);
  octal(header, 136, 12, mtime);
  header.write('        ', 148, 8, 'ascii');
  header.write(type === 'directory' ? '5' : '0', 156, 1, 'ascii');
  header.write('ustar\0' + '00', 257, 8, 'ascii');
  octal(header, 329, 8, 0);
  octal(header, 337, 8, 0);
  header.write(prefix, 345, 155, 'utf8');
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return header;
}

/** Zero bytes that pad `size` bytes of data to a whole block. */
export function padding(size: number): Buffer {
  const rest = size % BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : BLOCK - rest);
}

/** Two zero blocks end a tar. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);
