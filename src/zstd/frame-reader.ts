/**
 * Random access into multi-frame zstd files: read the seek table from the
 * tail, decompress one frame or just the frames covering an uncompressed
 * range, or decompress only the first frame (the bundle's metadata) without
 * needing a seek table at all.
 */
import { fstat, read } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { promisify } from 'node:util';
import type binding from 'zstd-napi/binding.js';
import { ZstdError } from './errors.js';
import { isSkippableMagic } from './frame-header.js';
import type { FrameDecodeWorker, Piece } from './decode-worker.js';
import { decodeError, createDCtx, DEFAULT_WINDOW_LOG_MAX } from './stream-decoder.js';
import { decodeEntryIndex, MAX_INDEX_BYTES, type IndexedEntry } from './entry-index.js';
import { decodeSeekTable, type FrameInfo, SEEK_TABLE_FOOTER_SIZE, type SeekTable, seekTableSizeFromFooter } from './seek-table.js';

export interface ZstdReadOptions {
  /** Window cap, log2, for frames decoded by streaming. Default 27. */
  windowLogMax?: number;
}

/**
 * Piece size of frames decoded on the worker: big enough that messages cost
 * little, small enough to stay in cache. Two profiles:
 *
 * - STREAM_CHUNK x STREAM_DEPTH, for readers of which several live at once
 *   (push and serve keep up to four): whoever streams an entry out copies
 *   each piece (see source/archive-file.ts), so memory scales with it.
 *   1 MiB, not 2: push of a 337 MiB bundle peaked at 255-275 MiB with 2 MiB
 *   pieces and 215 MiB with 1 MiB.
 * - WALK_CHUNK x WALK_DEPTH, for the one reader that walks a whole bundle
 *   (verify, extract): 4 MiB pieces, 4 in flight. verify of a 527 MB
 *   level-16 bundle took 0.72-1.00 s against 0.83-1.05 s with 2 MiB pieces,
 *   1.04-1.22 s of CPU against 1.16-1.28 s (medians of 11-15 alternating
 *   rounds, three runs, `zstd -dc | openssl dgst -sha256` 0.82-1.29 s in the
 *   same runs); 8 MiB x 4 and 4 MiB x 8 were no better.
 */
export const STREAM_CHUNK = 1024 * 1024;
/** Pieces in flight per frame for a random-access reader: how far the worker may run ahead of it. */
export const STREAM_DEPTH = 8;
export const WALK_CHUNK = 4 * 1024 * 1024;
export const WALK_DEPTH = 4;

/** A path, an open FileHandle, or a numeric file descriptor (left open). */
export type FileRef = string | FileHandle | number;

/** The two operations the readers need; FileHandle has them, a numeric fd gets an adapter. */
interface PositionalFile {
  stat(): Promise<{ size: number }>;
  read(buf: Buffer, offset: number, length: number, position: number): Promise<{ bytesRead: number }>;
}

const fstatAsync = promisify(fstat);
const readAsync = promisify(read);

function fdFile(fd: number): PositionalFile {
  return {
    stat: () => fstatAsync(fd),
    read: async (buf, offset, length, position) => ({ bytesRead: (await readAsync(fd, buf, offset, length, position)).bytesRead }),
  };
}

async function withHandle<T>(file: FileRef, fn: (fh: PositionalFile, label: string) => Promise<T>): Promise<T> {
  if (typeof file === 'number') return fn(fdFile(file), `fd ${file}`);
  if (typeof file !== 'string') return fn(file, 'zstd file');
  const fh = await open(file, 'r');
  try {
    return await fn(fh, file);
  } finally {
    await fh.close();
  }
}

async function readAt(fh: PositionalFile, position: number, length: number, label: string): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) {
      throw new ZstdError('ZSTD_TRUNCATED', `${label}: expected ${length} bytes at offset ${position}, file ends after ${done}`);
    }
    done += bytesRead;
  }
  return buf;
}

/**
 * Reads the seek table from the end of the file (two small reads). Returns
 * null when the file has no seekable footer (e.g. a plain `zstd` output);
 * throws ZSTD_BAD_SEEK_TABLE when a footer is there but the table does not
 * describe the file.
 */
export async function readSeekTable(file: FileRef): Promise<SeekTable | null> {
  return withHandle(file, async (fh, label) => {
    const size = (await fh.stat()).size;
    if (size < SEEK_TABLE_FOOTER_SIZE + 8) return null;
    const footer = await readAt(fh, size - SEEK_TABLE_FOOTER_SIZE, SEEK_TABLE_FOOTER_SIZE, label);
    const info = seekTableSizeFromFooter(footer, label);
    if (!info) return null;
    if (info.size > size) {
      throw new ZstdError('ZSTD_BAD_SEEK_TABLE', `${label}: seek table of ${info.frames} frames expected ${info.size} bytes, file has ${size}`);
    }
    const table = await readAt(fh, size - info.size, info.size, label);
    return decodeSeekTable(table, size - info.size, size, label);
  });
}

/** Decompresses one complete frame whose decompressed size is known. */
function decompressFrame(dctx: binding.DCtx, src: Buffer, expected: number, label: string): Buffer {
  const dst = Buffer.allocUnsafe(expected);
  let n: number;
  try {
    n = dctx.decompress(dst, src);
  } catch (err) {
    throw frameDecodeError(err instanceof Error ? err.message : String(err), expected, label, err);
  }
  if (n !== expected) throw new ZstdError('ZSTD_SIZE_MISMATCH', `${label}: expected ${expected} decompressed bytes, found ${n}`);
  return dst;
}

function frameDecodeError(message: string, expected: number, label: string, cause?: unknown): ZstdError {
  if (/too small/i.test(message)) {
    return new ZstdError('ZSTD_SIZE_MISMATCH', `${label}: expected ${expected} decompressed bytes, the frame holds more`, { cause });
  }
  return new ZstdError('ZSTD_CORRUPT', `${label}: not decodable: ${message}`, { cause });
}


/** An open multi-frame zstd file with a seek table. Close it when done. */
export class SeekableZstdFile {
  private dctx: binding.DCtx | undefined;
  private decoder: FrameDecodeWorker | undefined;
  private readonly streams = new Set<FrameStream>();

  private constructor(
    private readonly fh: FileHandle,
    readonly path: string,
    readonly table: SeekTable,
    private readonly windowLogMax: number,
  ) {}

  /** Opens `path` and reads its seek table; throws ZSTD_NO_SEEK_TABLE when there is none. */
  static async open(path: string, opts: ZstdReadOptions = {}): Promise<SeekableZstdFile> {
    const fh = await open(path, 'r');
    try {
      const table = await readSeekTable(fh);
      if (!table) {
        throw new ZstdError('ZSTD_NO_SEEK_TABLE', `${path}: expected a seek table (zstd seekable format) at the end of the file, found none`);
      }
      return new SeekableZstdFile(fh, path, table, opts.windowLogMax ?? DEFAULT_WINDOW_LOG_MAX);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  get frames(): readonly FrameInfo[] {
    return this.table.frames;
  }

  /** Total decompressed size. */
  get size(): number {
    return this.table.uncompressedSize;
  }

  /** The frame holding uncompressed byte `offset`. */
  frameAt(offset: number): FrameInfo {
    const frames = this.table.frames;
    if (!(offset >= 0 && offset < this.size)) {
      throw new ZstdError('ZSTD_OUT_OF_RANGE', `${this.path}: uncompressed offset expected in 0..${this.size - 1}, found ${offset}`);
    }
    let lo = 0;
    let hi = frames.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (frames[mid]!.uncompressedOffset <= offset) lo = mid;
      else hi = mid - 1;
    }
    return frames[lo]!;
  }

  private frameInfo(index: number): FrameInfo {
    const f = this.table.frames[index];
    if (!f) throw new ZstdError('ZSTD_OUT_OF_RANGE', `${this.path}: frame index expected in 0..${this.table.frames.length - 1}, found ${index}`);
    return f;
  }

  private frameLabel(f: FrameInfo): string {
    return `${this.path}: frame ${f.index} at offset ${f.compressedOffset}`;
  }

  /**
   * The bundle's entry index (see entry-index.ts): the last frame of the
   * seek table when it holds no decompressed bytes and is an index frame;
   * undefined for files without one.
   */
  async entryIndex(): Promise<IndexedEntry[] | undefined> {
    const last = this.table.frames[this.table.frames.length - 1];
    if (!last || last.uncompressedSize !== 0 || last.compressedSize > MAX_INDEX_BYTES) return undefined;
    const frame = await readAt(this.fh, last.compressedOffset, last.compressedSize, this.path);
    return decodeEntryIndex(frame, this.path);
  }

  /** Decompresses frame `index` in one piece, here (big frames: see `stream`). */
  async readFrame(index: number): Promise<Buffer> {
    const f = this.frameInfo(index);
    const src = await readAt(this.fh, f.compressedOffset, f.compressedSize, this.path);
    this.dctx ??= createDCtx(this.windowLogMax);
    return decompressFrame(this.dctx, src, f.uncompressedSize, this.frameLabel(f));
  }

  /**
   * Decodes frame `index` on a worker thread, piece by piece into
   * `buffers` (handed over: each comes back as a piece, then to `pool`),
   * for a reader that walks the frame in order while the worker runs ahead.
   * One stream at a time, and the one after it with `after` (it decodes
   * the moment this one ends): close one before opening another.
   */
  async stream(index: number, buffers: Buffer[], pool: Buffer[], after = false): Promise<FrameStream> {
    const f = this.frameInfo(index);
    const decoder = await this.frameDecoder();
    const stream = new FrameStream(decoder, decoder.start(this.path, f.compressedOffset, f.compressedSize, this.windowLogMax, after), buffers, pool, f, this.frameLabel(f), (s) => this.streams.delete(s));
    this.streams.add(stream);
    return stream;
  }

  /** The decode worker; loaded on first use: worker_threads is not needed to read the metadata frame (find, ls). */
  private async frameDecoder(): Promise<FrameDecodeWorker> {
    const { FrameDecodeWorker } = await import('./decode-worker.js');
    return (this.decoder ??= new FrameDecodeWorker());
  }

  /** Starts the decode worker now, for a reader that will stream frames: its start-up overlaps the metadata read. */
  async warm(): Promise<void> {
    (await this.frameDecoder()).warm();
  }

  /** Decompresses just the frames covering [start, start + length) and returns those bytes. */
  async readRange(start: number, length: number): Promise<Buffer> {
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(length) || start < 0 || length < 0 || start + length > this.size) {
      throw new ZstdError('ZSTD_OUT_OF_RANGE', `${this.path}: range expected within 0..${this.size}, found ${start}+${length}`);
    }
    if (length === 0) return Buffer.alloc(0);
    const out = Buffer.allocUnsafe(length);
    let filled = 0;
    let f = this.frameAt(start);
    while (filled < length) {
      const data = await this.readFrame(f.index);
      const from = start + filled - f.uncompressedOffset;
      filled += data.copy(out, filled, from, Math.min(data.length, from + (length - filled)));
      const next = this.table.frames[f.index + 1];
      if (!next) break;
      f = next;
    }
    return out;
  }

  async close(): Promise<void> {
    for (const s of this.streams) void s.close();
    await this.decoder?.close();
    await this.fh.close();
  }
}

/** One frame decoding on the worker, as pieces in order (see `SeekableZstdFile.stream`). */
export class FrameStream {
  private readonly inflight: Array<Promise<Piece>> = [];
  private produced = 0;
  private ended = false;

  constructor(
    private readonly decoder: FrameDecodeWorker,
    private readonly id: number,
    buffers: readonly Buffer[],
    private readonly pool: Buffer[],
    private readonly frame: FrameInfo,
    private readonly label: string,
    private readonly onClose: (s: FrameStream) => void,
  ) {
    for (const b of buffers) this.inflight.push(decoder.fill(id, b));
  }

  /** The next piece of the frame, valid until `release`d; undefined after the last. */
  async next(): Promise<Buffer | undefined> {
    for (;;) {
      const pending = this.ended ? undefined : this.inflight.shift();
      if (!pending) return undefined;
      const piece = await pending;
      if ('error' in piece) {
        void this.close();
        throw frameDecodeError(piece.error, this.frame.uncompressedSize, this.label);
      }
      this.produced += piece.n;
      const expected = this.frame.uncompressedSize;
      if (this.produced > expected || (piece.end && this.produced !== expected)) {
        void this.close();
        throw new ZstdError('ZSTD_SIZE_MISMATCH', `${this.label}: expected ${expected} decompressed bytes, found ${piece.end ? this.produced : `more than ${expected}`}`);
      }
      if (piece.end) this.ended = true;
      if (piece.n > 0) return piece.buf.subarray(0, piece.n);
      this.release(piece.buf);
    }
  }

  /** Hands a piece's memory back: it is filled with what follows, or goes to the pool once the frame is done. */
  release(piece: Buffer): void {
    const buf = Buffer.from(piece.buffer, 0, piece.buffer.byteLength);
    if (this.ended) this.pool.push(buf);
    else this.inflight.push(this.decoder.fill(this.id, buf));
  }

  /**
   * Stops here; the buffers in flight return to the pool as the worker hands
   * them back, which the returned promise waits for. A reader that opens its
   * next stream after it reuses them: opened at once, it would allocate a
   * fresh set while the old one is still out, and the pool would end up
   * holding both (2 x 16 MiB per reader with the 2 MiB pieces of then, measured in push's peak).
   */
  close(): Promise<void> {
    this.ended = true;
    // The worker stops decoding it; fills queued behind come back empty (one already posted is decoded first).
    this.decoder.drop(this.id);
    const back = this.inflight.splice(0).map((pending) =>
      pending.then(
        (piece) => {
          if (piece.buf.length > 0) this.pool.push(piece.buf);
        },
        () => {},
      ),
    );
    this.onClose(this);
    return Promise.all(back).then(() => {});
  }
}

/** Decompresses frame `index` of a seekable file. */
export async function readFrame(path: string, index: number, opts: ZstdReadOptions = {}): Promise<Buffer> {
  const f = await SeekableZstdFile.open(path, opts);
  try {
    return await f.readFrame(index);
  } finally {
    await f.close();
  }
}

/** Decompresses uncompressed bytes [start, start + length) of a seekable file, touching only the frames needed. */
export async function readRange(path: string, start: number, length: number, opts: ZstdReadOptions = {}): Promise<Buffer> {
  const f = await SeekableZstdFile.open(path, opts);
  try {
    return await f.readRange(start, length);
  } finally {
    await f.close();
  }
}

export interface FirstFrameOptions extends ZstdReadOptions {
  /** Largest decompressed size accepted; beyond it ZSTD_FRAME_TOO_LARGE. Default 64 MiB. */
  maxSize?: number;
}

/** The first frame's content and where it ends in the file. */
export interface FirstFrame {
  data: Buffer;
  /** Offset of the frame in the file (after any leading skippable frames). */
  compressedOffset: number;
  compressedSize: number;
}

const FIRST_FRAME_READ = 64 * 1024;

/**
 * Decompresses only the first zstd frame of a file (skipping leading
 * skippable frames), reading just as much of the file as that frame takes.
 * Works on any zstd file; on a foreign single-frame file it would decode
 * everything, so `maxSize` bounds it.
 */
export async function readFirstFrame(file: FileRef, opts: FirstFrameOptions = {}): Promise<FirstFrame> {
  const maxSize = opts.maxSize ?? 64 * 1024 * 1024;
  const windowLogMax = opts.windowLogMax ?? DEFAULT_WINDOW_LOG_MAX;
  return withHandle(file, async (fh, label) => {
    const fileSize = (await fh.stat()).size;
    let pos = 0;
    for (;;) {
      if (pos + 4 > fileSize) throw new ZstdError('ZSTD_TRUNCATED', `${label}: expected a zstd frame at offset ${pos}, file ends at ${fileSize}`);
      const head = await readAt(fh, pos, Math.min(8, fileSize - pos), label);
      const magic = head.readUInt32LE(0);
      if (!isSkippableMagic(magic)) break;
      if (head.length < 8) throw new ZstdError('ZSTD_TRUNCATED', `${label}: skippable frame at offset ${pos} expected an 8-byte header, file ends`);
      pos += 8 + head.readUInt32LE(4);
    }
    const start = pos;
    const dctx = createDCtx(windowLogMax);
    const outSize = 128 * 1024;
    const parts: Buffer[] = [];
    let total = 0;
    const chunk = Buffer.allocUnsafe(FIRST_FRAME_READ);
    for (;;) {
      const { bytesRead } = await fh.read(chunk, 0, FIRST_FRAME_READ, pos);
      if (bytesRead === 0) {
        throw new ZstdError('ZSTD_TRUNCATED', `${label}: file ends at ${pos} inside the first frame (started at ${start}); expected the rest of the frame`);
      }
      let src = chunk.subarray(0, bytesRead);
      for (;;) {
        const dst = Buffer.allocUnsafe(outSize);
        let ret: number;
        let produced: number;
        let used: number;
        try {
          [ret, produced, used] = dctx.decompressStream(dst, src);
        } catch (err) {
          throw decodeError(err, label, windowLogMax, pos, pos === start ? src : undefined);
        }
        if (produced > 0) {
          total += produced;
          if (total > maxSize) {
            throw new ZstdError('ZSTD_FRAME_TOO_LARGE', `${label}: first frame at offset ${start} expected at most ${maxSize} decompressed bytes, found more`);
          }
          parts.push(dst.subarray(0, produced));
        }
        src = src.subarray(used);
        pos += used;
        // ret === 0: the frame is complete and flushed; the decoder stops exactly at its end.
        if (ret === 0) return { data: Buffer.concat(parts, total), compressedOffset: start, compressedSize: pos - start };
        if (src.length === 0 && produced < dst.length) break;
      }
    }
  });
}
