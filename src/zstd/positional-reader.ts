/**
 * A seekable zstd file (an airpack bundle) as positional reads of the tar it
 * holds, for the tar walker and for blob reads at random: see seekableReader.
 */
import { TarError } from '../tar/errors.js';
import type { PositionalReader } from '../tar/walk.js';
import { type FrameStream, SeekableZstdFile, STREAM_CHUNK, STREAM_DEPTH } from './frame-reader.js';

/** Frames up to this size are decoded whole, on the spot (the metadata frame); bigger ones stream from the worker. */
const SMALL_FRAME = 1024 * 1024;

/**
 * Positional reads of a seekable zstd file, for a walk that moves forward:
 * a small frame is decoded whole; a big one streams from the decode worker
 * in pieces (a few decoding ahead), and a read behind the current piece or
 * into another frame restarts the stream there. Memory stays at a few
 * pieces whatever the frame size.
 */
export function seekableReader(z: SeekableZstdFile, pool: Buffer[] = []): PositionalReader {
  let small: { index: number; data: Buffer } | undefined;
  type Current = { index: number; stream: FrameStream; start: number; piece: Buffer };
  let cur: Current | undefined;
  // Piece buffers, reused from frame to frame (fresh memory decodes 2-3x slower); `pool` is
  // a parameter only for tests, which look at what comes back to it.
  const buffers = (): Buffer[] => Array.from({ length: STREAM_DEPTH }, () => pool.pop() ?? Buffer.allocUnsafeSlow(STREAM_CHUNK));

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
      // Its buffers back first, for the next stream to reuse: the worker decodes the old
      // stream's pending pieces before it starts the next one anyway, so this costs no time.
      await left;
      const stream = await z.stream(f.index, buffers(), pool);
      const piece = await stream.next();
      if (!piece) throw new TarError('TAR_TRUNCATED', `decompressed data ends at offset ${f.uncompressedOffset}`);
      cur = { index: f.index, stream, start: f.uncompressedOffset, piece };
    }
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
    close: async () => {
      void cur?.stream.close();
      await z.close();
    },
  };
}

