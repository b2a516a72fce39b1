/**
 * Multi-frame zstd writer for bundles. The input is cut into independent
 * frames: at every boundary the caller marks (the tar's metadata entries end
 * the first frame), and wherever a frame reaches `frameSize` bytes. Each frame
 * is compressed on the libuv thread pool (several at once), its header
 * rewritten to record the content size and to declare a window of at most
 * min(compressor window, frame size) <= 32 MiB (rancher/wharfie's decoder
 * cap), and written in order. A seek table (zstd seekable format) closes
 * the file.
 *
 * Buffering: one frame fills at a time in a reusable `frameSize` buffer; at
 * most `parallelism` frames are being compressed; a frame's compressed bytes
 * are written as soon as every earlier frame is. Peak memory is about
 * (parallelism + 1) x frameSize plus the compressed frames in flight plus
 * libzstd's working memory per thread. The output bytes depend only on the
 * input, the boundaries, `level` and `frameSize`, never on `parallelism` or
 * on how the input was chunked.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { ZstdError } from './errors.js';
import { MAX_BUNDLE_WINDOW, parseFrameHeader, recordContentSize } from './frame-header.js';
import { nativeZstd, threadPoolSize } from './native.js';
import { encodeSeekTable, type FrameInfo } from './seek-table.js';

/** Marks the end of a frame in the input of `writeZstdFrames`. */
export interface FrameBoundary {
  readonly boundary: true;
}

/** The one boundary value callers need. */
export const FRAME_BOUNDARY: FrameBoundary = Object.freeze({ boundary: true as const });

export const DEFAULT_LEVEL = 16;
/**
 * Default frame size. Measured on 312 MB of /usr/bin + /usr/lib at level 16
 * (scripts/bench-zstd.mjs): 8/16/32 MiB frames take the same time, cost
 * +8.9/+8.1/+7.7% size against `zstd -T0 -16 --long=25` (+1.5/+0.7/+0.3%
 * against `zstd -T0 -16`), and peak at 195/235/289 MiB RSS. 16 MiB keeps
 * random reads cheap and leaves 2x headroom under the 32 MiB cap.
 */
export const DEFAULT_FRAME_SIZE = 16 * 1024 * 1024;
/** Frames hold at most 32 MiB, so the declared window never exceeds wharfie's cap. */
export const MAX_FRAME_SIZE = MAX_BUNDLE_WINDOW;

export interface ZstdFrameWriterOptions {
  /** zstd level, 1..22. Default 16. */
  level?: number;
  /** Bytes per frame when the caller marks no boundary sooner; 64 KiB..32 MiB. Default 16 MiB. */
  frameSize?: number;
  /** Frames compressed at once. Default: CPU count, capped at the thread pool size minus one (file I/O needs a thread). */
  parallelism?: number;
  /** Append the seek table. Default true. */
  seekTable?: boolean;
  /** End the output stream when finished. Default true. */
  end?: boolean;
  /** Called as each frame is written, in order. */
  onFrame?: (frame: FrameInfo) => void;
}

/** What the writer produced. */
export interface ZstdFrameIndex {
  frames: FrameInfo[];
  /** Total bytes written: frames plus seek table. */
  compressedSize: number;
  uncompressedSize: number;
  /** Where the seek table frame sits, when written. */
  seekTable: { offset: number; size: number } | null;
}

interface Job {
  index: number;
  uncompressedOffset: number;
  input: Buffer;
  size: number;
  result: Promise<Buffer>;
}

/** Default parallelism: one frame per core, leaving one pool thread for file I/O. */
export function defaultParallelism(): number {
  return Math.max(1, Math.min(availableParallelism(), threadPoolSize() - 1));
}

function checkInt(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ZstdError('ZSTD_INVALID_OPTION', `${name} expected an integer in ${min}..${max}, found ${value}`);
  }
  return value;
}

/**
 * Push-style writer: `write()` bytes, `endFrame()` at boundaries,
 * `finish()` once. Await each call: that is the back-pressure.
 */
export class ZstdFrameWriter {
  private readonly level: number;
  private readonly frameSize: number;
  private readonly parallelism: number;
  private readonly withSeekTable: boolean;
  private readonly endOutput: boolean;
  private readonly onFrame: ((frame: FrameInfo) => void) | undefined;
  private readonly pool: Buffer[] = [];
  private current: Buffer | undefined;
  private fill = 0;
  private readonly queue: Job[] = [];
  private readonly frames: FrameInfo[] = [];
  private nextIndex = 0;
  private uncompressed = 0;
  private compressed = 0;
  private failed: unknown;
  private finished = false;

  constructor(
    private readonly out: Writable,
    opts: ZstdFrameWriterOptions = {},
  ) {
    this.level = checkInt('level', opts.level ?? DEFAULT_LEVEL, 1, 22);
    this.frameSize = checkInt('frameSize', opts.frameSize ?? DEFAULT_FRAME_SIZE, 64 * 1024, MAX_FRAME_SIZE);
    this.parallelism = checkInt('parallelism', opts.parallelism ?? defaultParallelism(), 1, 64);
    this.withSeekTable = opts.seekTable ?? true;
    this.endOutput = opts.end ?? true;
    this.onFrame = opts.onFrame;
    // An output error between our writes must fail the next call, not crash the process.
    out.on('error', this.onOutputError);
  }

  private readonly onOutputError = (err: Error): void => {
    this.failed ??= err;
  };

  /** Frames written so far. */
  get written(): readonly FrameInfo[] {
    return this.frames;
  }

  async write(chunk: Buffer | Uint8Array): Promise<void> {
    this.check();
    let src = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    while (src.length > 0) {
      if (!this.current) {
        this.current = this.pool.pop() ?? Buffer.allocUnsafe(this.frameSize);
        this.fill = 0;
      }
      const n = Math.min(src.length, this.frameSize - this.fill);
      src.copy(this.current, this.fill, 0, n);
      this.fill += n;
      src = src.subarray(n);
      if (this.fill === this.frameSize) await this.submit();
    }
  }

  /** Ends the current frame here (no-op when it is empty). */
  async endFrame(): Promise<void> {
    this.check();
    if (this.current && this.fill > 0) await this.submit();
  }

  /** Flushes the last frame, writes the seek table, ends the output (unless `end: false`). */
  async finish(): Promise<ZstdFrameIndex> {
    this.check();
    this.finished = true;
    if (this.current && this.fill > 0) await this.submit();
    if (this.nextIndex === 0) {
      // Empty input still yields one (empty) frame, so the file is valid zstd for every reader.
      this.current = Buffer.alloc(0);
      this.fill = 0;
      await this.submit(true);
    }
    while (this.queue.length > 0) await this.drainOne();
    let seekTable: ZstdFrameIndex['seekTable'] = null;
    if (this.withSeekTable) {
      const table = encodeSeekTable(this.frames);
      seekTable = { offset: this.compressed, size: table.length };
      await this.emit(table);
    }
    if (this.endOutput) await endStream(this.out);
    this.out.off('error', this.onOutputError);
    return { frames: [...this.frames], compressedSize: this.compressed, uncompressedSize: this.uncompressed, seekTable };
  }

  /** Stops after an error elsewhere; frames in flight are dropped. */
  abort(reason: unknown): void {
    this.failed ??= reason;
    for (const job of this.queue) job.result.catch(() => {});
    this.queue.length = 0;
  }

  private check(): void {
    if (this.failed !== undefined) throw this.failed;
    if (this.finished) throw new Error('ZstdFrameWriter: already finished');
  }

  private async submit(allowEmpty = false): Promise<void> {
    const input = this.current;
    if (!input || (this.fill === 0 && !allowEmpty)) return;
    const size = this.fill;
    this.current = undefined;
    this.fill = 0;
    const index = this.nextIndex++;
    const uncompressedOffset = this.uncompressed;
    this.uncompressed += size;
    const view = input.subarray(0, size);
    const label = `frame ${index} (uncompressed bytes ${uncompressedOffset}..${uncompressedOffset + size})`;
    const result = nativeZstd()
      .compress(view, this.level)
      .then(
        (frame) => checkFrame(recordContentSize(frame, size, label), size, label),
        (err: unknown) => {
          throw new ZstdError('ZSTD_COMPRESS_FAILED', `${label}: native compress at level ${this.level} failed: ${err instanceof Error ? err.message : String(err)}`, {
            cause: err,
          });
        },
      );
    // Handled when drained; this keeps an early failure from being reported as unhandled meanwhile.
    result.catch(() => {});
    this.queue.push({ index, uncompressedOffset, input, size, result });
    if (this.queue.length >= this.parallelism) await this.drainOne();
  }

  private async drainOne(): Promise<void> {
    const job = this.queue[0];
    if (!job) return;
    let frame: Buffer;
    try {
      frame = await job.result;
    } catch (err) {
      this.abort(err);
      throw err;
    }
    this.queue.shift();
    if (job.input.length === this.frameSize) this.pool.push(job.input);
    const info: FrameInfo = {
      index: job.index,
      compressedOffset: this.compressed,
      compressedSize: frame.length,
      uncompressedOffset: job.uncompressedOffset,
      uncompressedSize: job.size,
    };
    await this.emit(frame);
    this.frames.push(info);
    this.onFrame?.(info);
  }

  private async emit(buf: Buffer): Promise<void> {
    if (this.failed !== undefined) throw this.failed;
    this.compressed += buf.length;
    if (!this.out.write(buf)) await waitDrain(this.out);
  }
}

/** Verifies what the bundle format promises about every frame header. */
function checkFrame(frame: Buffer, size: number, label: string): Buffer {
  const h = parseFrameHeader(frame, 0, label);
  if (!h || h.contentSize !== size || h.windowSize > MAX_BUNDLE_WINDOW) {
    throw new ZstdError(
      'ZSTD_COMPRESS_FAILED',
      `${label}: frame header expected content size ${size} and window <= ${MAX_BUNDLE_WINDOW}, found ${h ? `${h.contentSize} and ${h.windowSize}` : 'no header'}`,
    );
  }
  return frame;
}

function waitDrain(out: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error): void => {
      out.off('drain', onDrain);
      out.off('error', onError);
      out.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = (): void => done();
    const onError = (err: Error): void => done(err);
    const onClose = (): void => done(new Error('output closed before the zstd frames were written'));
    out.on('drain', onDrain);
    out.on('error', onError);
    out.on('close', onClose);
  });
}

function endStream(out: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    out.once('error', reject);
    out.end(() => {
      out.off('error', reject);
      resolve();
    });
  });
}

/**
 * Compresses `source` into frames written to `output` (a Writable, or a path
 * written to a temp file beside it and renamed when complete). Items of
 * `source` are bytes or FRAME_BOUNDARY markers.
 */
export async function writeZstdFrames(
  source: AsyncIterable<Buffer | Uint8Array | FrameBoundary> | Iterable<Buffer | Uint8Array | FrameBoundary>,
  output: Writable | string,
  opts: ZstdFrameWriterOptions = {},
): Promise<ZstdFrameIndex> {
  if (typeof output === 'string') return writeToPath(source, output, opts);
  const writer = new ZstdFrameWriter(output, opts);
  try {
    for await (const item of source) {
      if (isBoundary(item)) await writer.endFrame();
      else await writer.write(item);
    }
    return await writer.finish();
  } catch (err) {
    writer.abort(err);
    throw err;
  }
}

function isBoundary(item: Buffer | Uint8Array | FrameBoundary): item is FrameBoundary {
  return !(item instanceof Uint8Array) && (item as FrameBoundary).boundary === true;
}

async function writeToPath(
  source: AsyncIterable<Buffer | Uint8Array | FrameBoundary> | Iterable<Buffer | Uint8Array | FrameBoundary>,
  path: string,
  opts: ZstdFrameWriterOptions,
): Promise<ZstdFrameIndex> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const out = createWriteStream(tmp, { flags: 'wx', highWaterMark: 1024 * 1024 });
  try {
    const index = await writeZstdFrames(source, out, { ...opts, end: true });
    await rename(tmp, path);
    return index;
  } catch (err) {
    // Wait for the stream to close (pending writes included) before removing the file.
    await new Promise<void>((resolve) => {
      out.on('error', () => {});
      if (out.closed) resolve();
      else {
        out.once('close', () => resolve());
        out.destroy();
      }
    });
    await unlink(tmp).catch(() => {});
    throw err;
  }
}
