/**
 * A seekable zstd file (an airpack bundle) as positional reads of the tar it
 * holds, for the tar walker and for blob reads at random: see seekableReader.
 */
import { TarError } from '../tar/errors.js';
import type { PositionalReader } from '../tar/walk.js';
import { type FrameStream, SeekableZstdFile, STREAM_CHUNK, STREAM_DEPTH, WALK_CHUNK, WALK_DEPTH } from './frame-reader.js';
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
 *
 * With `streaming` (one reader walking the whole file: verify, extract), the
 * worker is started at once, while the metadata is read, and pieces are
 * WALK_CHUNK x WALK_DEPTH; readers of which several live at once (push,
 * serve) take the smaller STREAM_CHUNK x STREAM_DEPTH (frame-reader.ts).
 * `pool` is a parameter only for tests, which look at what comes back to it.
 */
export function seekableReader(z: SeekableZstdFile, opts: { streaming?: boolean; pool?: Buffer[] } = {}): PositionalReader {
  let small: { index: number; data: Buffer } | undefined;
  type Current = { index: number; stream: FrameStream; start: number; piece: Buffer };
  let cur: Current | undefined;
  let ahead: { index: number; stream: FrameStream } | undefined;
  /** Where the walk's announced in-order read ends. */
  let planEnd = 0;
  // Piece buffers, reused from frame to frame (fresh memory decodes 2-3x slower).
  const pool = opts.pool ?? [];
  const [chunk, depth] = opts.streaming ? [WALK_CHUNK, WALK_DEPTH] : [STREAM_CHUNK, STREAM_DEPTH];
  const buffers = (): Buffer[] => Array.from({ length: depth }, () => pool.pop() ?? Buffer.allocUnsafeSlow(chunk));
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
      // The piece in hand goes back to the pool too.
      if (cur) pool.push(Buffer.from(cur.piece.buffer, 0, cur.piece.buffer.byteLength));
      const left = cur?.stream.close();
      cur = undefined;
      let stream: FrameStream;
      if (ahead?.index === f.index && position >= f.uncompressedOffset) {
        stream = ahead.stream;
        ahead = undefined;
        // The old stream's buffers back before readAhead below takes a set for the next frame.
        await left;
      } else {
        const dropped = ahead?.stream.close();
        ahead = undefined;
        // Their buffers back first, for the next stream to reuse: the worker decodes the old
        // stream's pending pieces before it starts the next one anyway, so this costs no time.
        await Promise.all([left, dropped]);
        stream = await z.stream(f.index, buffers(), pool);
      }
      const piece = await stream.next();
      if (!piece) {
        void stream.close();
        throw new TarError('TAR_TRUNCATED', `decompressed data ends at offset ${f.uncompressedOffset}`);
      }
      cur = { index: f.index, stream, start: f.uncompressedOffset, piece };
    }
    if (planEnd > frameEnd(f)) await readAhead(f);
    let held: Current = cur;
    while (position >= held.start + held.piece.length) {
      const { index, stream, piece } = held;
      const start = held.start + piece.length;
      stream.release(piece);
      // The piece is the stream's again (on its way to the worker, or in the pool): until the next
      // one comes the reader holds none. Should it not come (a frame that does not decode, a size
      // that differs, data that ends), the failed stream has closed and given its buffers back, and
      // the next read starts afresh; kept, the given-back piece would go to the pool a second time
      // when the reader moves on (a detached buffer, or one two streams fill), and every later read
      // of this reader, which serve and push reuse after errors, would fail or get wrong bytes.
      cur = undefined;
      const next = await stream.next();
      if (!next) {
        void stream.close();
        throw new TarError('TAR_TRUNCATED', `decompressed data ends at offset ${start}`);
      }
      cur = held = { index, stream, start, piece: next };
    }
    return held.piece.subarray(position - held.start);
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
      void cur?.stream.close();
      void ahead?.stream.close();
      await z.close();
    },
  };
}
