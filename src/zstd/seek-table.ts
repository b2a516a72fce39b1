/**
 * The zstd seekable format's seek table: a skippable frame (magic
 * 0x184D2A5E) at the end of the file listing each frame's compressed and
 * decompressed size, closed by a 9-byte footer (frame count, descriptor,
 * magic 0x8F92EAB1).
 * https://github.com/facebook/zstd/blob/dev/contrib/seekable_format/zstd_seekable_compression_format.md
 */
import { ZstdError } from './errors.js';
import { SKIPPABLE_MAGIC_MIN, skippableFrame } from './frame-header.js';

export const SEEK_TABLE_SKIPPABLE_MAGIC = 0x184d2a5e;
export const SEEKABLE_MAGIC = 0x8f92eab1;
export const SEEK_TABLE_FOOTER_SIZE = 9;
/** The seek table records 32-bit sizes; 2 GiB leaves room for incompressible frames. */
export const MAX_FRAME_SIZE = 2 * 1024 * 1024 * 1024;
/** Skippable frame header: magic + frame size. */
const SKIPPABLE_HEADER_SIZE = 8;
const CHECKSUM_FLAG = 0x80;
/** The format caps frames at 2^32 - 1 bytes either way and the count at 2^27. */
const MAX_FRAMES = 2 ** 27;

/** One frame as recorded in a seek table, with offsets worked out. */
export interface FrameInfo {
  index: number;
  /** Offset of the frame in the compressed file. */
  compressedOffset: number;
  compressedSize: number;
  /** Offset of the frame's first byte in the decompressed stream. */
  uncompressedOffset: number;
  uncompressedSize: number;
  /** Low 32 bits of the XXH64 of the frame's content, when the table has checksums. */
  checksum?: number;
}

export interface SeekTable {
  frames: FrameInfo[];
  hasChecksums: boolean;
  /** Offset of the seek table's skippable frame in the file. */
  offset: number;
  /** Size of the seek table's skippable frame (header, entries and footer). */
  size: number;
  /** Sum of all frames' decompressed sizes. */
  uncompressedSize: number;
}

/** Encodes the seek table skippable frame for `frames` (without checksums unless every frame has one). */
export function encodeSeekTable(frames: readonly Pick<FrameInfo, 'compressedSize' | 'uncompressedSize' | 'checksum'>[]): Buffer {
  if (frames.length > MAX_FRAMES) {
    throw new ZstdError('ZSTD_INVALID_OPTION', `seek table: expected at most ${MAX_FRAMES} frames, found ${frames.length}`);
  }
  const withChecksums = frames.length > 0 && frames.every((f) => f.checksum !== undefined);
  const entrySize = withChecksums ? 12 : 8;
  const payload = Buffer.alloc(frames.length * entrySize + SEEK_TABLE_FOOTER_SIZE);
  let pos = 0;
  frames.forEach((f, i) => {
    if (f.compressedSize > 0xffffffff || f.uncompressedSize > 0xffffffff) {
      throw new ZstdError('ZSTD_INVALID_OPTION', `seek table: frame ${i} sizes expected below 2^32, found ${f.compressedSize}/${f.uncompressedSize}`);
    }
    payload.writeUInt32LE(f.compressedSize, pos);
    payload.writeUInt32LE(f.uncompressedSize, pos + 4);
    if (withChecksums) payload.writeUInt32LE((f.checksum ?? 0) >>> 0, pos + 8);
    pos += entrySize;
  });
  payload.writeUInt32LE(frames.length, pos);
  payload[pos + 4] = withChecksums ? CHECKSUM_FLAG : 0;
  payload.writeUInt32LE(SEEKABLE_MAGIC, pos + 5);
  return skippableFrame(payload, SEEK_TABLE_SKIPPABLE_MAGIC - SKIPPABLE_MAGIC_MIN);
}

/**
 * Size of the whole seek table frame given its footer, or null when the
 * footer's magic is not the seekable magic (a file without a table).
 */
export function seekTableSizeFromFooter(footer: Buffer, label = 'input'): { size: number; frames: number; hasChecksums: boolean } | null {
  if (footer.length !== SEEK_TABLE_FOOTER_SIZE) throw new Error(`seekTableSizeFromFooter: expected ${SEEK_TABLE_FOOTER_SIZE} bytes`);
  if (footer.readUInt32LE(5) !== SEEKABLE_MAGIC) return null;
  const frames = footer.readUInt32LE(0);
  const descriptor = footer[4] ?? 0;
  if ((descriptor & 0x7c) !== 0) {
    throw new ZstdError('ZSTD_BAD_SEEK_TABLE', `${label}: seek table descriptor reserved bits expected 0, found 0x${descriptor.toString(16)}`);
  }
  if (frames > MAX_FRAMES) throw new ZstdError('ZSTD_BAD_SEEK_TABLE', `${label}: seek table frame count expected at most ${MAX_FRAMES}, found ${frames}`);
  const hasChecksums = (descriptor & CHECKSUM_FLAG) !== 0;
  const size = SKIPPABLE_HEADER_SIZE + frames * (hasChecksums ? 12 : 8) + SEEK_TABLE_FOOTER_SIZE;
  return { size, frames, hasChecksums };
}

/**
 * Decodes a complete seek table frame found at `tableOffset` in a file of
 * `fileSize` bytes. Frames are assumed to start at offset 0 and to be
 * contiguous up to the table, as the format lays them out.
 */
export function decodeSeekTable(table: Buffer, tableOffset: number, fileSize: number, label = 'input'): SeekTable {
  const bad = (what: string): ZstdError => new ZstdError('ZSTD_BAD_SEEK_TABLE', `${label}: seek table at offset ${tableOffset}: ${what}`);
  const footer = seekTableSizeFromFooter(table.subarray(table.length - SEEK_TABLE_FOOTER_SIZE), label);
  if (!footer || footer.size !== table.length) throw bad(`expected ${footer?.size ?? '?'} bytes, found ${table.length}`);
  const magic = table.readUInt32LE(0);
  if (magic !== SEEK_TABLE_SKIPPABLE_MAGIC) throw bad(`skippable magic expected 0x${SEEK_TABLE_SKIPPABLE_MAGIC.toString(16)}, found 0x${magic.toString(16)}`);
  const frameSize = table.readUInt32LE(4);
  if (frameSize !== table.length - SKIPPABLE_HEADER_SIZE) throw bad(`frame size field expected ${table.length - SKIPPABLE_HEADER_SIZE}, found ${frameSize}`);
  const entrySize = footer.hasChecksums ? 12 : 8;
  const frames: FrameInfo[] = [];
  let c = 0;
  let u = 0;
  for (let i = 0; i < footer.frames; i++) {
    const at = SKIPPABLE_HEADER_SIZE + i * entrySize;
    const compressedSize = table.readUInt32LE(at);
    const uncompressedSize = table.readUInt32LE(at + 4);
    const f: FrameInfo = { index: i, compressedOffset: c, compressedSize, uncompressedOffset: u, uncompressedSize };
    if (footer.hasChecksums) f.checksum = table.readUInt32LE(at + 8);
    frames.push(f);
    c += compressedSize;
    u += uncompressedSize;
  }
  if (c !== tableOffset) throw bad(`frames expected to fill the ${tableOffset} bytes before the table, their sizes add up to ${c}`);
  if (tableOffset + table.length !== fileSize) throw bad(`expected to end the file at ${fileSize}, ends at ${tableOffset + table.length}`);
  return { frames, hasChecksums: footer.hasChecksums, offset: tableOffset, size: table.length, uncompressedSize: u };
}
