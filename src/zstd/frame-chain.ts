/**
 * The frames of a zstd file walked by their headers alone (RFC 8878: frame
 * header, then 3-byte block headers, each giving the block's size), with no
 * decoding: one small read per block. The metadata read uses it on a zstd
 * file without a seek table, whose frames cannot otherwise be told apart
 * from a file cut short: a bundle truncated after its first frame would
 * still name every image it held.
 */
import type { FileHandle } from 'node:fs/promises';
import { ZstdError } from './errors.js';
import { isSkippableMagic, MAX_FRAME_HEADER_SIZE, parseFrameHeader } from './frame-header.js';

/** Frames (data and skippable) from the start of the file to its end; throws ZSTD_TRUNCATED when the file ends inside one. */
export async function walkFrameChain(fh: FileHandle, label: string): Promise<{ frames: number }> {
  const size = (await fh.stat()).size;
  const buf = Buffer.alloc(MAX_FRAME_HEADER_SIZE);
  const readAt = async (pos: number, length: number): Promise<Buffer> => {
    const { bytesRead } = await fh.read(buf, 0, length, pos);
    return buf.subarray(0, bytesRead);
  };
  const truncated = (frame: number, start: number): ZstdError =>
    new ZstdError('ZSTD_TRUNCATED', `${label}: file ends at ${size} inside zstd frame ${frame} (it starts at ${start}); the file is cut short [an airpack bundle ends with its seek table]`);
  let pos = 0;
  let frames = 0;
  while (pos < size) {
    const start = pos;
    const head = await readAt(pos, MAX_FRAME_HEADER_SIZE);
    if (head.length < 8) throw truncated(frames, start);
    if (isSkippableMagic(head.readUInt32LE(0))) {
      pos += 8 + head.readUInt32LE(4);
    } else {
      const header = parseFrameHeader(head, 0, label);
      if (!header) throw truncated(frames, start);
      pos += header.headerSize;
      for (let last = false; !last; ) {
        const block = await readAt(pos, 3);
        if (block.length < 3) throw truncated(frames, start);
        const bits = block.readUIntLE(0, 3);
        last = (bits & 1) === 1;
        const type = (bits >> 1) & 3;
        if (type === 3) throw new ZstdError('ZSTD_CORRUPT', `${label}: zstd frame ${frames} at ${start}: reserved block type at offset ${pos}`);
        // An RLE block stores one byte, repeated; raw and compressed blocks store their size.
        pos += 3 + (type === 1 ? 1 : bits >>> 3);
      }
      if (header.checksum) pos += 4;
    }
    if (pos > size) throw truncated(frames, start);
    frames++;
  }
  return { frames };
}
