/**
 * zstd frame headers (RFC 8878 section 3.1.1.1) and skippable frames:
 * parse a header, and rewrite one into single-segment form with a recorded
 * content size.
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

/** Smallest window the descriptor byte can express that is >= `size`, as [descriptor byte, window]. */
export function windowDescriptorFor(size: number): [number, number] {
  let exponent = Math.max(10, Math.floor(Math.log2(Math.max(size, 1))));
  let base = 2 ** exponent;
  let mantissa = size <= base ? 0 : Math.ceil((size - base) / (base / 8));
  if (mantissa === 8) {
    exponent += 1;
    base *= 2;
    mantissa = 0;
  }
  return [((exponent - 10) << 3) | mantissa, base + (base / 8) * mantissa];
}

/**
 * Rewrites a complete frame's header to record `contentSize` and to declare
 * a window no larger than needed: the compressor's window, or the content
 * size rounded up to the next expressible window when that is smaller. A
 * frame of at most 32 MiB so declares at most 32 MiB whatever the level
 * (levels 20-22 ask for 2^25-2^27), while a 4 MiB level-16 window stays
 * 4 MiB (a Go klauspost decoder, wharfie's, allocates twice the declared
 * window). The blocks are unchanged: every match offset is bounded by both
 * the compressor's window and the bytes decoded so far. Single-segment
 * frames that already record `contentSize` are returned as they are.
 */
export function recordContentSize(frame: Buffer, contentSize: number, label = 'frame'): Buffer {
  const h = parseFrameHeader(frame, 0, label);
  if (!h) throw new ZstdError('ZSTD_BAD_FRAME_HEADER', `${label}: expected a complete frame header, found ${frame.length} bytes`);
  if (h.contentSize !== null && h.contentSize !== contentSize) {
    throw new ZstdError('ZSTD_SIZE_MISMATCH', `${label}: header records content size ${h.contentSize}, expected ${contentSize}`);
  }
  if (h.singleSegment && h.contentSize === contentSize) return frame;
  const [fitted, fittedWindow] = windowDescriptorFor(contentSize);
  // A single-segment frame has no descriptor; its implied window is its content size.
  const descriptor = !h.singleSegment && h.windowSize <= fittedWindow ? (frame[5] ?? 0) : fitted;
  // Without single-segment, FCS flag 0 means "absent": sizes below 256 need the 4-byte field.
  let fcsFlag: number;
  let fcs: Buffer;
  if (contentSize >= 256 && contentSize < 65536 + 256) {
    fcsFlag = 1;
    fcs = Buffer.alloc(2);
    fcs.writeUInt16LE(contentSize - 256);
  } else if (contentSize <= 0xffffffff) {
    fcsFlag = 2;
    fcs = Buffer.alloc(4);
    fcs.writeUInt32LE(contentSize);
  } else {
    fcsFlag = 3;
    fcs = Buffer.alloc(8);
    fcs.writeBigUInt64LE(BigInt(contentSize));
  }
  const oldFhd = frame[4] ?? 0;
  const dictFlag = oldFhd & 3;
  const dictSize = DICT_ID_SIZE[dictFlag] ?? 0;
  const dictStart = 5 + (h.singleSegment ? 0 : 1);
  const head = Buffer.alloc(6 + dictSize + fcs.length);
  frame.copy(head, 0, 0, 4);
  // Keep the checksum and dictionary flags; single-segment off.
  head[4] = (fcsFlag << 6) | (oldFhd & 0x04) | dictFlag;
  head[5] = descriptor;
  frame.copy(head, 6, dictStart, dictStart + dictSize);
  fcs.copy(head, 6 + dictSize);
  return Buffer.concat([head, frame.subarray(h.headerSize)]);
}

/** Builds a skippable frame holding `payload` (magic nibble `variant`, 0..15). */
export function skippableFrame(payload: Buffer, variant: number): Buffer {
  const out = Buffer.alloc(8 + payload.length);
  out.writeUInt32LE((SKIPPABLE_MAGIC_MIN + (variant & 0xf)) >>> 0, 0);
  out.writeUInt32LE(payload.length, 4);
  payload.copy(out, 8);
  return out;
}
