/**
 * A seekable zstd file (an airpack bundle) as positional reads of the tar it
 * holds, for the tar walker and for blob reads at random: see seekableReader.
 */
import { TarError } from '../tar/errors.js';
import type { PositionalReader } from '../tar/walk.js';
import { type FrameStream, SeekableZstdFile, STREAM_CHUNK, STREAM_DEPTH } from './frame-reader.js';
import type { FrameInfo } from './seek-table.js';

/** Frames up to this size are decoded whole, on the spot (the metadata frame); bigger ones stream from the worker. */
const SMALL_FRAME = 1024 * 1024;

/**
 * Positional reads of a seekable zstd file, for a walk that moves forward:
 * a small frame is decoded whole; a big one streams from the decode worker
 * in pieces (a few decoding ahead), and a read behind the current piece or
 * into another frame restarts the stream there. Memory stays at a few
 * pieces whatever the frame size.
 *
 * When the walk says it reads on past the current frame (`plan`: an entry's
 * data runs on), the next frame is queued behind it on the same worker, which
 * starts it the moment this one ends instead of idling until the reader gets
 * there (hashing the pieces still in flight, 10-15 ms a frame; `verify` of
 * a 527 MB level-16 bundle of real binaries 0.79 -> 0.77 s, median of 11
 * alternating rounds, `zstd -dc | openssl dgst -sha256` 0.72 s).
 *
 * A second worker decoding the next frame at once, while this one is read,
 * was measured and dropped: on this 2-core machine, shared, that verify took
 * 1.16-1.18x the reference with 32-64 MiB read-ahead on a second worker
 * against 1.05x with the queue (9 alternating rounds; 1.43-1.47 s CPU
 * against 1.26 s: two decoders at once cost more per byte, in cache), and
 * 128 MiB of read-ahead was slower still. Decode (one core) and sha256 (the
 * caller's thread) already overlap; the cores were not free for a third.
 * With `streaming`, the worker is started at once, while the metadata is read.
 */
export function seekableReader(z: SeekableZstdFile, opts: { streaming?: boolean } = {}): PositionalReader {
  let small: { index: number; data: Buffer } | undefined;
  let cur: { index: number; stream: FrameStream; start: number; piece: Buffer } | undefined;
  let ahead: { index: number; stream: FrameStream } | undefined;
  /** Where the walk's announced in-order read ends. */
  let planEnd = 0;
  // Piece buffers, reused from frame to frame (fresh memory decodes 2-3x slower).
  const pool: Buffer[] = [];
  const buffers = (): Buffer[] => Array.from({ length: STREAM_DEPTH }, () => pool.pop() ?? Buffer.allocUnsafeSlow(STREAM_CHUNK));
  const frameEnd = (f: FrameInfo): number => f.uncompressedOffset + f.uncompressedSize;
  if (opts.streaming && z.frames.some((f) => f.uncompressedSize > SMALL_FRAME)) void z.warm().catch(() => {});

  /** Queues the frame after `f` behind it when the walk reads on into it. */
  const readAhead = async (f: FrameInfo): Promise<void> => {
    const next = z.frames[f.index + 1];
    if (ahead || !next || planEnd <= frameEnd(f) || next.uncompressedSize <= SMALL_FRAME) return;
    ahead = { index: next.index, stream: await z.stream(next.index, buffers(), pool, true) };
  };

  /** The bytes at `position`: a view into a decoded frame or piece, up to its end. */
  const at = async (position: number): Promise<Buffer> => {
    const f = z.frameAt(position);
    if (f.uncompressedSize <= SMALL_FRAME) {
      if (small?.index !== f.index) small = { index: f.index, data: await z.readFrame(f.index) };
      return small.data.subarray(position - f.uncompressedOffset);
    }
    if (!cur || cur.index !== f.index || position < cur.start) {
      cur?.stream.close();
      cur = undefined;
      let stream: FrameStream;
      if (ahead?.index === f.index && position >= f.uncompressedOffset) {
        stream = ahead.stream;
        ahead = undefined;
      } else {
        ahead?.stream.close();
        ahead = undefined;
        stream = await z.stream(f.index, buffers(), pool);
      }
      const piece = await stream.next();
      if (!piece) throw new TarError('TAR_TRUNCATED', `decompressed data ends at offset ${f.uncompressedOffset}`);
      cur = { index: f.index, stream, start: f.uncompressedOffset, piece };
    }
    if (planEnd > frameEnd(f)) await readAhead(f);
    while (position >= cur.start + cur.piece.length) {
      const { stream, piece } = cur;
      cur.start += piece.length;
      stream.release(piece);
      const next = await stream.next();
      if (!next) throw new TarError('TAR_TRUNCATED', `decompressed data ends at offset ${cur.start}`);
      cur.piece = next;
    }
    return cur.piece.subarray(position - cur.start);
  };
  return {
    size: z.size,
    async read(position, length) {
      const out = Buffer.allocUnsafe(length);
      let filled = 0;
      while (filled < length) {
        const data = await at(position + filled);
        const n = data.copy(out, filled, 0, Math.min(data.length, length - filled));
        if (n === 0) throw new TarError('TAR_TRUNCATED', `decompressed data ends at offset ${position + filled}`);
        filled += n;
      }
      return out;
    },
    async view(position, length) {
      // Up to the end of the piece: copying across pieces would cost more than a second call.
      return (await at(position)).subarray(0, length);
    },
    plan(end) {
      planEnd = end;
    },
    close: async () => {
      cur?.stream.close();
      ahead?.stream.close();
      await z.close();
    },
  };
}

