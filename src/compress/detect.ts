/**
 * The one table of compressions airpack recognises, told apart by magic
 * bytes (never by file name). Archives may come in any of them (wharfie,
 * rke2's loader, reads the same set); layers are gzip, zstd or plain.
 */
import { Magic } from '../spec/media-types.js';

export type Compression = 'none' | 'gzip' | 'zstd' | 'bzip2' | 'lz4' | 'xz';

/** Bytes needed to tell the compressions apart. */
export const MAGIC_PEEK_SIZE = 6;

const XZ = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);

/** The compression of data that starts with `head`; anything unrecognised counts as plain (the tar reader then judges it). */
export function detectCompression(head: Buffer): Compression {
  if (head.length >= 2 && head.subarray(0, 2).equals(Magic.gzip)) return 'gzip';
  if (head.length >= 4) {
    if (head.subarray(0, 4).equals(Magic.zstd)) return 'zstd';
    // A zstd file may open with a skippable frame (a seek table or metadata written first).
    if ((head.readUInt32LE(0) & 0xfffffff0) >>> 0 === Magic.zstdSkippableLow) return 'zstd';
    if (head.subarray(0, 4).equals(Magic.lz4)) return 'lz4';
  }
  if (head.length >= 3 && head.subarray(0, 3).equals(Magic.bzip2)) return 'bzip2';
  if (head.length >= 6 && head.subarray(0, 6).equals(XZ)) return 'xz';
  return 'none';
}
