/**
 * zstd frame headers (RFC 8878 section 3.1.1.1) and skippable frames:
 * parse a header, put a content size into one, build a skippable frame.
 */
import { ZstdError } from './errors.js';

/** Magic number opening a zstd frame, read little-endian. */
export const ZSTD_FRAME_MAGIC = 0xfd2fb528;
/** Skippable frames use magics 0x184D2A50..0x184D2A5F. */
export const SKIPPABLE_MAGIC_MIN = 0x184d2a50;
const SKIPPABLE_MASK = 0xfffffff0;

/** The largest window a bundle frame may declare: rancher/wharfie caps its decoder at 32 MiB. */
export const MAX_BUNDLE_WINDOW = 2 ** 25;

/** Longest possible frame header: magic 4 + descriptor 1 + window 1 + dictionary id 4 + content size 8. */
export const MAX_FRAME_HEADER_SIZE = 18;

export function isSkippableMagic(magic: number): boolean {
  return (magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC_MIN;
}

export interface FrameHeader {
  /** Bytes from the magic number to the first block. */
  headerSize: number;
  /** Window the decoder must provide; equals the content size in single-segment frames. */
  windowSize: number;
  /** Decompressed size recorded in the header, or null when absent. */
  contentSize: number | null;
  singleSegment: boolean;
  /** The frame ends with a 4-byte XXH64-based checksum. */
  checksum: boolean;
  dictionaryId: number;
}

const DICT_ID_SIZE = [0, 1, 2, 4] as const;

/**
 * Parses the frame header at `offset`. Returns null when `buf` ends before
 * the header does. Throws ZSTD_BAD_FRAME_HEADER for a wrong magic or a set
 * reserved bit. `label` names the input in messages.
 */
export function parseFrameHeader(buf: Uint8Array, offset = 0, label = 'input'): FrameHeader | null {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < offset + 5) return null;
  const magic = b.readUInt32LE(offset);
  if (magic !== ZSTD_FRAME_MAGIC) {
    throw new ZstdError(
      'ZSTD_BAD_FRAME_HEADER',
      `${label}: frame at offset ${offset}: magic expected 0x${ZSTD_FRAME_MAGIC.toString(16)}, found 0x${magic.toString(16)}`,
    );
  }
  const fhd = b[offset + 4] ?? 0;
  if ((fhd & 0x08) !== 0) {
    throw new ZstdError('ZSTD_BAD_FRAME_HEADER', `${label}: frame at offset ${offset}: reserved descriptor bit expected 0, found 1 (descriptor 0x${fhd.toString(16)})`);
  }
  const fcsFlag = fhd >> 6;
  const singleSegment = (fhd & 0x20) !== 0;
  const checksum = (fhd & 0x04) !== 0;
  const dictSize = DICT_ID_SIZE[fhd & 3] ?? 0;
  const fcsSize = fcsFlag === 0 ? (singleSegment ? 1 : 0) : fcsFlag === 1 ? 2 : fcsFlag === 2 ? 4 : 8;
  const headerSize = 5 + (singleSegment ? 0 : 1) + dictSize + fcsSize;
  if (b.length < offset + headerSize) return null;
  let pos = offset + 5;
  let windowSize = 0;
  if (!singleSegment) {
    const wd = b[pos++] ?? 0;
    const windowLog = 10 + (wd >> 3);
    const base = 2 ** windowLog;
    windowSize = base + (base / 8) * (wd & 7);
  }
  let dictionaryId = 0;
  if (dictSize > 0) {
    dictionaryId = b.readUIntLE(pos, dictSize);
    pos += dictSize;
  }
  let contentSize: number | null = null;
  if (fcsSize === 1) contentSize = b[pos] ?? 0;
  else if (fcsSize === 2) contentSize = b.readUInt16LE(pos) + 256;
  else if (fcsSize === 4) contentSize = b.readUInt32LE(pos);
  else if (fcsSize === 8) contentSize = Number(b.readBigUInt64LE(pos));
  if (singleSegment) windowSize = contentSize ?? 0;
  return { headerSize, windowSize, contentSize, singleSegment, checksum, dictionaryId };
}

/**
 * The header of a frame compressed with no size pledged (no content size,
 * not single-segment), rewritten as libzstd writes it with `size` pledged:
 * the descriptor's size flag set and the size after the window descriptor,
 * in 4 bytes up to 2^32 - 1 and 8 above. Sizes below 65,792 (a 1- or 2-byte
 * field) are refused: the frames this is for are longer than the window,
 * and libzstd would have shrunk the window of a smaller one.
 */
export function withContentSize(header: Uint8Array, size: number, label = 'input'): Buffer {
  const h = parseFrameHeader(header, 0, label);
  if (!h || h.headerSize !== header.length || h.contentSize !== null || h.singleSegment || !Number.isSafeInteger(size) || size < 65_792) {
    throw new ZstdError('ZSTD_BAD_FRAME_HEADER', `${label}: content size ${size} expected to go into a header without one, found ${h ? `a header of ${h.headerSize} bytes, content size ${h.contentSize}` : 'no header'}`);
  }
  const wide = size > 0xffffffff;
  const out = Buffer.alloc(header.length + (wide ? 8 : 4));
  out.set(header);
  out[4] = (header[4]! & 0x3f) | ((wide ? 3 : 2) << 6);
  if (wide) out.writeBigUInt64LE(BigInt(size), header.length);
  else out.writeUInt32LE(size, header.length);
  return out;
}

/** Builds a skippable frame holding `payload` (magic nibble `variant`, 0..15). */
export function skippableFrame(payload: Buffer, variant: number): Buffer {
  const out = Buffer.alloc(8 + payload.length);
  out.writeUInt32LE((SKIPPABLE_MAGIC_MIN + (variant & 0xf)) >>> 0, 0);
  out.writeUInt32LE(payload.length, 4);
  payload.copy(out, 8);
  return out;
}
