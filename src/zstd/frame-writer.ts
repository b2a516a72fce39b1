/**
 * Multi-frame zstd writer for bundles. The input is cut into independent
 * frames: at every boundary the caller marks (the tar's metadata entries end
 * the first frame), and wherever a frame reaches `frameSize` bytes. Frames
 * are compressed side by side on worker threads (compress-pool.ts), each as
 * `zstd -16 --long=25` would: long-distance matching, a window of at most
 * 2^25 (rancher/wharfie's decoder cap), content size in the header. They
 * are written in order, and a seek table (zstd seekable format) closes the
 * file. The output bytes depend only on the input, the boundaries, `level`,
 * `frameSize` and `longDistanceMatching`, never on the parallelism or on how
 * the input was chunked.
 *
 * Two ways in:
 * - `writeZstdParts`: the input as parts, bytes or ranges of files (an image
 *   archive is its blob files). Workers read the files themselves, nothing
 *   is buffered here: memory is libzstd's per worker plus the compressed
 *   output of frames that finish ahead of their turn. A file may still be
 *   on its way (`ready`): its frame is queued all the same, and the worker
 *   waits at that file, not before the frame's first byte (a bundle's
 *   first frame used to wait for the last of its layers to download). A part can also be a
 *   `StreamedPart`, bytes of known size written in later, in order (a
 *   layer decoded out of another bundle): they go to the workers as they
 *   come, a few MiB at a time, and are never stored.
 * - `ZstdFrameWriter` / `writeZstdFrames`: a byte stream pushed in. A frame's
 *   bytes must be held until it is handed to a worker, so memory grows with
 *   (parallelism + 1) x frameSize; the default parallelism keeps that
 *   within PUSH_INPUT_BUDGET.
 */
import { availableParallelism } from 'node:os';
import { Writable } from 'node:stream';
import { type CompressedFrame, FrameCompressorPool, FrameFeed, type FrameSettings, type FrameSlice } from './compress-pool.js';
import { endWritable, waitDrain, writeViaTempFile } from '../io/output-sink.js';
import { CostProbe, type CostCurve } from './cost-probe.js';
import { ZstdError } from './errors.js';
import { MAX_BUNDLE_WINDOW, parseFrameHeader, withContentSize } from './frame-header.js';
import { encodeSeekTable, MAX_FRAME_SIZE, type FrameInfo } from './seek-table.js';

/** Marks the end of a frame in the input of `writeZstdFrames`. */
export interface FrameBoundary {
  readonly boundary: true;
}

/** The one boundary value callers need. */
export const FRAME_BOUNDARY: FrameBoundary = Object.freeze({ boundary: true as const });

export const DEFAULT_LEVEL = 16;
/** log2 of the window every frame may use: 2^25, as `zstd --long=25` and wharfie's cap. */
export const BUNDLE_WINDOW_LOG = Math.log2(MAX_BUNDLE_WINDOW);
/**
 * Default largest frame. Long-distance matches are lost at every frame
 * boundary, so bigger frames compress better, and cost less CPU where
 * layers resemble each other; smaller ones make random reads cheaper and
 * give the plan room to even out the workers. Bundles over 64 MiB of
 * layers are cut into frames of equal work by a cost probe
 * (archive/frame-plan.ts, `planFrameEndsByCost`), as few as this size
 * allows. Measured with that plan, level 16, `bundle` from a loopback
 * registry (bench:bundle sets), alternating rounds in one run, on a
 * machine then 25-35% slower than during bench:bundle in README.md:
 *
 * | plan, largest frame | release-like, 346 MiB | disjoint, 479 MiB |
 * |---|---|---|
 * | by bytes, 192 MiB (before) | 2 frames: 30.7 MiB, 20.7-21.5 s, 34 s CPU | 4 frames: 67.8 MiB, 42.6-47.1 s, 72-81 s CPU |
 * | by cost, 192 MiB | 3 frames: 38.9 MiB, 24.1-27.9 s, 41-45 s CPU | 4 frames: 60.1 MiB, 33.9-34.4 s, 65 s CPU |
 * | by cost, 256 MiB | 2 frames: 31.0 MiB, 18.0-18.7 s, 35-36 s CPU | 3 frames: 59.9 MiB, 42.9-43.5 s, 68-70 s CPU |
 *
 * At 192 MiB the release-like set needs a third frame, which parts layers
 * that resemble each other: 8 MiB and 7 CPU s more. At 256 MiB the
 * disjoint set's first frame is 246 MiB of one library ten times over,
 * which the probe takes for 20% of the work and is 14%: the second frame
 * carries 62% of it. 256 MiB is better than the plan by bytes on both
 * sets. A read in the middle of a frame decodes at most 256 MiB before it
 * (about 0.2 s here).
 */
export const DEFAULT_FRAME_SIZE = 256 * 1024 * 1024;
export { MAX_FRAME_SIZE } from './seek-table.js';
/** Input the push writer may hold by default (frames filling and waiting for a worker). */
export const PUSH_INPUT_BUDGET = 256 * 1024 * 1024;
/**
 * The push writer's default frame size: it holds each frame's bytes, so
 * within PUSH_INPUT_BUDGET 128 MiB frames still run two at a time.
 */
export const PUSH_FRAME_SIZE = 128 * 1024 * 1024;

export interface ZstdFrameWriterOptions {
  /** zstd level, 1..22. Default 16. */
  level?: number;
  /** Bytes per frame when the caller marks no boundary sooner; 64 KiB..2 GiB. Default 256 MiB (the push writer: 128 MiB). */
  frameSize?: number;
  /** Long-distance matching (`zstd --long`). Default true. */
  longDistanceMatching?: boolean;
  /** Frames compressed at once (worker threads). Default: the CPU count (push writer: also within PUSH_INPUT_BUDGET). */
  parallelism?: number;
  /** Append the seek table. Default true. */
  seekTable?: boolean;
  /**
   * A skippable frame to write after the last data frame (the entry index),
   * listed in the seek table with no decompressed bytes.
   */
  tail?: Buffer;
  /** End the output stream when finished. Default true. */
  end?: boolean;
  /** Called as each frame is written, in order. */
  onFrame?: (frame: FrameInfo) => void;
  /** Called with input bytes as the workers compress them (every few MiB), for progress. */
  onInput?: (n: number) => void;
  /**
   * `writeZstdParts` only: input offsets, ascending, where frames end besides
   * the marked boundaries (archive/frame-plan.ts); frames still end at
   * `frameSize` at the latest.
   */
  frameEnds?: readonly number[];
  /**
   * `writeZstdParts` only: frame ends chosen from what the input between
   * `start` and `end` costs to compress (zstd/cost-probe.ts; the plan:
   * archive/frame-plan.ts, `planFrameEndsByCost`), in place of `frameEnds`.
   * The frame from `start` is queued at once, open, and compresses up to
   * `earliestFirstEnd` while the probe runs; `choose` then gives the ends.
   * Streamed parts in that range must be able to `replay` their bytes.
   */
  costPlan?: CostPlan;
}

/** See `ZstdFrameWriterOptions.costPlan`. */
export interface CostPlan {
  start: number;
  end: number;
  earliestFirstEnd: number;
  choose(curve: CostCurve): number[];
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

/** Default parallelism: one frame per core. */
export function defaultParallelism(): number {
  return Math.max(1, availableParallelism());
}

function checkInt(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ZstdError('ZSTD_INVALID_OPTION', `${name} expected an integer in ${min}..${max}, found ${value}`);
  }
  return value;
}

interface ResolvedOptions {
  settings: FrameSettings;
  frameSize: number;
  parallelism: number;
  seekTable: boolean;
  end: boolean;
  onFrame: ((frame: FrameInfo) => void) | undefined;
  onInput: ((n: number) => void) | undefined;
  tail: Buffer | undefined;
}

function resolveOptions(opts: ZstdFrameWriterOptions, defaultWorkers: (frameSize: number) => number, defaultFrameSize = DEFAULT_FRAME_SIZE): ResolvedOptions {
  const level = checkInt('level', opts.level ?? DEFAULT_LEVEL, 1, 22);
  const frameSize = checkInt('frameSize', opts.frameSize ?? defaultFrameSize, 64 * 1024, MAX_FRAME_SIZE);
  return {
    settings: { level, windowLog: BUNDLE_WINDOW_LOG, longDistanceMatching: opts.longDistanceMatching ?? true },
    frameSize,
    parallelism: checkInt('parallelism', opts.parallelism ?? defaultWorkers(frameSize), 1, 64),
    seekTable: opts.seekTable ?? true,
    end: opts.end ?? true,
    onFrame: opts.onFrame,
    onInput: opts.onInput,
    tail: opts.tail,
  };
}

/**
 * Frames in order: queued on the pool, written to `out` one after the
 * other as their bytes arrive (a frame that finishes early waits, held in
 * memory), recorded for the seek table.
 */
class OrderedFrames {
  private readonly pool: FrameCompressorPool;
  private readonly inFlight: Array<{ frame: CompressedFrame; uncompressedOffset: number }> = [];
  private readonly frames: FrameInfo[] = [];
  private uncompressed = 0;
  private compressed = 0;
  private failed: unknown;

  constructor(
    private readonly out: Writable,
    private readonly opts: ResolvedOptions,
  ) {
    this.pool = new FrameCompressorPool(opts.parallelism, opts.onInput);
    // An output error between our writes must fail the next call, not crash the process.
    out.on('error', this.onOutputError);
  }

  private readonly onOutputError = (err: Error): void => {
    this.failed ??= err;
  };

  get written(): readonly FrameInfo[] {
    return this.frames;
  }

  get count(): number {
    return this.frames.length + this.inFlight.length;
  }

  /** Queues a frame; waits first when `parallelism` frames are already in flight. */
  async submit(slices: FrameSlice[], size: number): Promise<void> {
    this.check();
    while (this.inFlight.length >= this.opts.parallelism) await this.writeNext();
    const index = this.count;
    const label = `frame ${index} (uncompressed bytes ${this.uncompressed}..${this.uncompressed + size})`;
    this.inFlight.push({ frame: this.pool.compress(slices, this.opts.settings, label), uncompressedOffset: this.uncompressed });
    this.uncompressed += size;
  }

  /**
   * Queues a frame whose end is chosen later (`close`, before any other
   * frame is submitted); waits first as `submit` does.
   */
  async submitOpen(slices: FrameSlice[], size: number): Promise<{ close(rest: FrameSlice[], restSize: number): void; failure: Promise<never> }> {
    this.check();
    while (this.inFlight.length >= this.opts.parallelism) await this.writeNext();
    const index = this.count;
    const start = this.uncompressed;
    const open = this.pool.compressOpen(slices, this.opts.settings, `frame ${index} (uncompressed bytes from ${start}, its end not chosen yet)`);
    this.inFlight.push({ frame: open.frame, uncompressedOffset: start });
    this.uncompressed += size;
    // Rejects if the frame fails before its end is chosen (once chosen, its size is known and this never settles).
    const failure = open.frame.final().then(() => new Promise<never>(() => {}));
    failure.catch(() => {});
    return {
      failure,
      close: (rest, restSize) => {
        this.uncompressed += restSize;
        open.close(rest, `frame ${index} (uncompressed bytes ${start}..${this.uncompressed})`);
      },
    };
  }

  /** Writes every frame still in flight, then the seek table; ends the output when asked. */
  async finish(): Promise<ZstdFrameIndex> {
    try {
      while (this.inFlight.length > 0) await this.writeNext();
      if (this.opts.tail) {
        const compressedOffset = this.compressed;
        await this.emit(this.opts.tail);
        this.frames.push({ index: this.frames.length, compressedOffset, compressedSize: this.opts.tail.length, uncompressedOffset: this.uncompressed, uncompressedSize: 0 });
      }
      let seekTable: ZstdFrameIndex['seekTable'] = null;
      if (this.opts.seekTable) {
        const table = encodeSeekTable(this.frames);
        seekTable = { offset: this.compressed, size: table.length };
        await this.emit(table);
      }
      if (this.opts.end) await endWritable(this.out);
      return { frames: [...this.frames], compressedSize: this.compressed, uncompressedSize: this.uncompressed, seekTable };
    } finally {
      await this.close();
    }
  }

  /** Stops the workers; frames in flight are dropped. */
  async close(): Promise<void> {
    this.out.off('error', this.onOutputError);
    this.inFlight.length = 0;
    await this.pool.close();
  }

  private async writeNext(): Promise<void> {
    const job = this.inFlight[0]!;
    const { frame } = job;
    const compressedOffset = this.compressed;
    // The first bytes are held until the header is whole: an open frame's gets its size put in.
    let head: Buffer | undefined = Buffer.alloc(0);
    for await (const chunk of frame.chunks()) {
      if (!head) {
        await this.emit(chunk);
        continue;
      }
      head = Buffer.concat([head, chunk]);
      const complete = await completeHeader(head, frame);
      if (!complete) continue;
      await this.emit(complete.header);
      await this.emit(complete.rest);
      head = undefined;
    }
    if (head) checkFrameHeader(head, frame.size, frame.label, true);
    this.inFlight.shift();
    const info: FrameInfo = {
      index: this.frames.length,
      compressedOffset,
      compressedSize: this.compressed - compressedOffset,
      uncompressedOffset: job.uncompressedOffset,
      uncompressedSize: frame.size,
    };
    this.frames.push(info);
    this.opts.onFrame?.(info);
  }

  private check(): void {
    if (this.failed !== undefined) throw this.failed;
  }

  private async emit(buf: Buffer): Promise<void> {
    this.check();
    this.compressed += buf.length;
    if (!this.out.write(buf)) await waitDrain(this.out);
  }
}

/**
 * Push-style writer: `write()` bytes, `endFrame()` at boundaries,
 * `finish()` once. Await each call: that is the back-pressure.
 */
export class ZstdFrameWriter {
  private readonly opts: ResolvedOptions;
  private readonly frames: OrderedFrames;
  /** The frame being filled, as 4 MiB staging buffers (handed to the worker whole). */
  private staged: Buffer[] = [];
  private current: Buffer | undefined;
  private fill = 0;
  private frameFill = 0;
  private failed: unknown;
  private finished = false;

  constructor(out: Writable, opts: ZstdFrameWriterOptions = {}) {
    this.opts = resolveOptions(opts, (frameSize) => Math.max(1, Math.min(defaultParallelism(), Math.floor(PUSH_INPUT_BUDGET / frameSize) - 1)), PUSH_FRAME_SIZE);
    this.frames = new OrderedFrames(out, this.opts);
  }

  /** Frames written so far. */
  get written(): readonly FrameInfo[] {
    return this.frames.written;
  }

  async write(chunk: Buffer | Uint8Array): Promise<void> {
    this.check();
    let src = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    while (src.length > 0) {
      const room = this.opts.frameSize - this.frameFill;
      if (!this.current) {
        this.current = Buffer.allocUnsafeSlow(Math.min(STAGING_SIZE, room));
        this.fill = 0;
      }
      const n = Math.min(src.length, this.current.length - this.fill);
      src.copy(this.current, this.fill, 0, n);
      this.fill += n;
      this.frameFill += n;
      src = src.subarray(n);
      if (this.fill === this.current.length) this.stage();
      if (this.frameFill === this.opts.frameSize) await this.submit();
    }
  }

  /** Ends the current frame here (no-op when it is empty). */
  async endFrame(): Promise<void> {
    this.check();
    if (this.frameFill > 0) await this.submit();
  }

  /** Flushes the last frame, writes the seek table, ends the output (unless `end: false`). */
  async finish(): Promise<ZstdFrameIndex> {
    this.check();
    this.finished = true;
    // Empty input still yields one (empty) frame, so the file is valid zstd for every reader.
    if (this.frameFill > 0 || this.frames.count === 0) await this.submit();
    return this.frames.finish();
  }

  /** Stops after an error elsewhere; frames in flight are dropped. */
  abort(reason: unknown): void {
    this.failed ??= reason;
    void this.frames.close();
  }

  private check(): void {
    if (this.failed !== undefined) throw this.failed;
    if (this.finished) throw new Error('ZstdFrameWriter: already finished');
  }

  private stage(): void {
    if (this.current && this.fill > 0) this.staged.push(this.fill === this.current.length ? this.current : this.current.subarray(0, this.fill));
    this.current = undefined;
    this.fill = 0;
  }

  private async submit(): Promise<void> {
    this.stage();
    const slices = this.staged;
    const size = this.frameFill;
    this.staged = [];
    this.frameFill = 0;
    try {
      await this.frames.submit(slices, size);
    } catch (err) {
      this.abort(err);
      throw err;
    }
  }
}

/** Staging buffers are allocated outside Node's shared pool so they can be transferred to a worker. */
const STAGING_SIZE = 4 * 1024 * 1024;

/**
 * Bytes of one part of `writeZstdParts` that arrive while it runs: exactly
 * `size` of them, written in order through `writable()`. A write waits
 * until the frame its bytes belong to is cut and has room on a worker, so
 * whoever produces them is held back, never buffered without bound. `fail`
 * stops the write (the producer broke); so does a writable that ends early.
 */
export class StreamedPart {
  private readonly feeds: FrameFeed[] = [];
  private feedAt = 0;
  /** Where the current feed starts in the part. */
  private feedStart = 0;
  private written = 0;
  private failure: unknown;
  private wake: (() => void) | undefined;
  private opened = false;
  private verdict: Promise<unknown> | undefined;

  /**
   * Reads the part's bytes once more, from its source, into `into` (for the
   * cost probe: the part is read out of an archive on this machine, and a
   * second read costs a decode). Undefined when it cannot.
   */
  replay: ((into: Writable) => Promise<unknown>) | undefined;

  constructor(readonly size: number) {}

  /**
   * Takes the part's failures from `ready` (the producer's own verdict: a
   * digest mismatch, a size that was not predicted) rather than from the
   * writable's destruction, which only says "closed early" and would win
   * the race to name the error.
   */
  follow(ready: Promise<unknown>): void {
    this.verdict = ready;
    ready.catch((err: unknown) => this.fail(err));
  }

  /** writeZstdParts: the next `length` bytes of the part go to one frame. */
  slice(length: number): FrameFeed {
    const feed = new FrameFeed(length);
    if (this.failure !== undefined) feed.fail(this.failure);
    this.feeds.push(feed);
    this.notify();
    return feed;
  }

  /** Writes the next bytes; resolves when `chunk` may be reused. */
  async write(chunk: Uint8Array): Promise<void> {
    if (this.written + chunk.length > this.size) {
      throw new ZstdError('ZSTD_COMPRESS_FAILED', `streamed part: more than its ${this.size} bytes`);
    }
    let at = 0;
    while (at < chunk.length) {
      // The feed for the next bytes is made when writeZstdParts cuts their frame: wait for it.
      let feed = this.feeds[this.feedAt];
      while (!feed) {
        if (this.failure !== undefined) throw this.failure;
        await new Promise<void>((resolve) => (this.wake = resolve));
        feed = this.feeds[this.feedAt];
      }
      const n = Math.min(chunk.length - at, feed.length - (this.written - this.feedStart));
      await feed.write(chunk.subarray(at, at + n));
      at += n;
      this.written += n;
      if (this.written - this.feedStart === feed.length) {
        this.feedStart += feed.length;
        this.feedAt++;
      }
    }
  }

  /** The producer broke: every frame holding this part fails with `err`. */
  fail(err: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    for (const feed of this.feeds) feed.fail(err);
    this.notify();
  }

  /** The part as a Writable, for a pipeline; opened once (the bytes cannot be taken back). */
  writable(): Writable {
    if (this.opened) throw new ZstdError('ZSTD_COMPRESS_FAILED', 'streamed part: written once only, its bytes cannot be taken back');
    this.opened = true;
    return new Writable({
      highWaterMark: 0,
      write: (chunk: Buffer, _enc, cb) => this.write(chunk).then(() => cb(), cb),
      final: (cb) => {
        if (this.written === this.size) return cb();
        const err = new ZstdError('ZSTD_COMPRESS_FAILED', `streamed part: ended after ${this.written} of its ${this.size} bytes`);
        if (!this.verdict) this.fail(err);
        cb(err);
      },
      destroy: (err, cb) => {
        // A part that follows its producer's verdict fails with that, which is on its way.
        if (!this.verdict) {
          if (err) this.fail(err);
          else if (this.written < this.size) this.fail(new ZstdError('ZSTD_COMPRESS_FAILED', `streamed part: closed after ${this.written} of its ${this.size} bytes`));
        }
        cb(err);
      },
    });
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/**
 * A piece of the input of `writeZstdParts`: bytes, a file range, bytes
 * streamed in, or the end of a frame. A file may still be on its way: its
 * frame is queued at once, and its worker waits at the file until `ready`
 * resolves; if it rejects, the write stops at once with that error. A streamed part's `ready` says its bytes were what
 * they should be (verified after the last one): the file is complete only
 * once every one has resolved.
 */
export type ZstdInputPart = Buffer | { path: string; offset?: number; size: number; ready?: Promise<unknown> } | { streamed: StreamedPart; ready?: Promise<unknown> } | FrameBoundary;

function isBoundary(item: unknown): item is FrameBoundary {
  return !(item instanceof Uint8Array) && (item as FrameBoundary).boundary === true;
}

/**
 * Compresses `parts` into frames written to `output` (a Writable, or a path
 * written to a temp file beside it and renamed when complete). Files are
 * read by the workers, so their bytes never pass through this thread.
 */
export async function writeZstdParts(parts: readonly ZstdInputPart[], output: Writable | string, opts: ZstdFrameWriterOptions = {}): Promise<ZstdFrameIndex> {
  const failStreamed = (err: unknown): void => {
    // A producer still writing a streamed part must not wait for a frame that will never come.
    for (const part of parts) if (!Buffer.isBuffer(part) && 'streamed' in part) part.streamed.fail(err);
  };
  if (typeof output === 'string') {
    return writeViaTempFile(output, (out) => writeZstdParts(parts, out, { ...opts, end: true })).catch((err: unknown) => {
      failStreamed(err);
      throw err;
    });
  }
  let resolved: ResolvedOptions;
  try {
    resolved = resolveOptions(opts, defaultParallelism);
  } catch (err) {
    failStreamed(err);
    throw err;
  }
  const frames = new OrderedFrames(output, resolved);
  let probe: CostProbe | undefined;
  let planned: Promise<number[]> | undefined;
  // A layer that will never come fails the write at once, with its own error: the frames
  // before it would otherwise run to their end (tens of seconds at level 16) for nothing.
  let lost: { err: unknown } | undefined;
  let onLost: ((err: unknown) => void) | undefined;
  const watch = (ready: Promise<unknown>): void => {
    // The first loss stops the write; a handler more on a shared promise changes nothing.
    ready.catch((err: unknown) => {
      if (lost) return;
      lost = { err };
      failStreamed(err);
      void frames.close();
      onLost?.(err);
    });
  };
  /** Rejects when a layer is lost: what a wait for something else (the plan) races against. */
  const loss = new Promise<never>((_resolve, reject) => (onLost = reject));
  loss.catch(() => {});
  try {
    let slices: FrameSlice[] = [];
    const verified: Array<Promise<unknown>> = [];
    let fill = 0;
    // Input offset of the next byte, and the planned frame ends still ahead of it.
    let position = 0;
    let ends = [...(opts.frameEnds ?? [])];
    // A plan by cost: the probe starts now, and the first frame it plans runs open to its earliest end.
    const { costPlan } = opts;
    if (costPlan) {
      probe = new CostProbe({ firstStart: costPlan.earliestFirstEnd - costPlan.start });
      planned = probeCosts(probe, parts, costPlan.start, costPlan.end).then((curve) => checkPlan(costPlan, costPlan.choose(curve)));
      planned.catch(() => {});
      ends = [costPlan.earliestFirstEnd];
      // The loop stops at the first frame's earliest end until the plan comes: watch every layer now.
      for (const part of parts) if (!Buffer.isBuffer(part) && !isBoundary(part) && part.ready) watch(part.ready);
    }
    /** The frame queued open, waiting for the rest of its slices, and the bytes it holds. */
    let open: { close(rest: FrameSlice[], restSize: number): void } | undefined;
    let openSize = 0;
    /** Bytes the current frame may still take. */
    const room = (): number => {
      // Ends at or before the current frame's start are behind us.
      while (ends.length > 0 && ends[0]! <= position - fill - openSize) ends.shift();
      return Math.min(resolved.frameSize - openSize - fill, ends.length > 0 ? ends[0]! - position : Infinity);
    };
    const take = (n: number): void => {
      fill += n;
      position += n;
    };
    const cut = async (): Promise<void> => {
      const frame = slices;
      const size = fill;
      slices = [];
      fill = 0;
      // The open frame's rest (none when a boundary or the end comes right where the plan ended it).
      if (open) {
        open.close(frame, size);
        open = undefined;
        openSize = 0;
        return;
      }
      if (size === 0) return;
      if (planned && position === costPlan!.earliestFirstEnd) {
        // The first frame's end is the plan's to choose: queue it open, and wait for the plan here.
        const first = await frames.submitOpen(frame, size);
        // The plan, unless a layer is lost or the open frame fails first (its worker gone).
        ends = await Promise.race([planned, loss, first.failure]);
        planned = undefined;
        if (ends[0] === position) first.close([], 0);
        else {
          open = first;
          openSize = size;
        }
        return;
      }
      await frames.submit(frame, size);
    };
    for (const part of parts) {
      if (isBoundary(part)) {
        await cut();
        continue;
      }
      if ('streamed' in part) {
        const { streamed } = part;
        if (part.ready) verified.push(part.ready);
        for (let taken = 0; taken < streamed.size; ) {
          const n = Math.min(streamed.size - taken, room());
          slices.push(streamed.slice(n));
          taken += n;
          take(n);
          if (room() === 0) await cut();
        }
        continue;
      }
      const length = Buffer.isBuffer(part) ? part.length : part.size;
      // A file still on its way is queued with its frame all the same: the worker compresses what
      // comes before it and waits at its slice (a frame no longer waits for its last layer to start).
      if (!Buffer.isBuffer(part) && part.ready) {
        verified.push(part.ready);
        watch(part.ready);
      }
      let taken = 0;
      while (taken < length) {
        const n = Math.min(length - taken, room());
        // Bytes are copied into a buffer of their own: the pool transfers it to the worker.
        slices.push(
          Buffer.isBuffer(part)
            ? new Uint8Array(part.subarray(taken, taken + n))
            : { path: part.path, offset: (part.offset ?? 0) + taken, length: n, ...(part.ready ? { ready: part.ready } : {}) },
        );
        taken += n;
        take(n);
        if (room() === 0) await cut();
      }
    }
    await cut();
    if (frames.count === 0) await frames.submit([], 0);
    await Promise.all(verified);
    return await frames.finish();
  } catch (err) {
    failStreamed(err);
    await Promise.all([frames.close(), probe?.close()]);
    // Nothing of this write may still be reading once it has failed: the probe ends at once when closed.
    await planned?.catch(() => {});
    throw lost ? lost.err : err;
  }
}

/** The plan's ends as the writer needs them: ascending integers within the planned range. */
function checkPlan(plan: CostPlan, ends: readonly number[]): number[] {
  let previous = plan.earliestFirstEnd - 1;
  for (const e of ends) {
    if (!Number.isSafeInteger(e) || e <= previous || e >= plan.end) {
      throw new ZstdError('ZSTD_INVALID_OPTION', `frame plan: ends expected ascending from ${plan.earliestFirstEnd} and before ${plan.end}, found ${ends.join(', ')}`);
    }
    previous = e;
  }
  return [...ends];
}

/**
 * The probe's cost curve over the input from `start` to `end`: bytes sent
 * as they are, files read by the probe's worker once they are complete,
 * streamed parts replayed (a second read of their source), a point at the
 * end of each file or streamed part.
 */
async function probeCosts(probe: CostProbe, parts: readonly ZstdInputPart[], start: number, end: number): Promise<CostCurve> {
  try {
    let at = 0;
    for (const part of parts) {
      if (isBoundary(part)) continue;
      const length = Buffer.isBuffer(part) ? part.length : 'streamed' in part ? part.streamed.size : part.size;
      const from = Math.max(at, start);
      const to = Math.min(at + length, end);
      if (from < to) {
        if (Buffer.isBuffer(part)) await probe.bytes(part.subarray(from - at, to - at));
        else if ('streamed' in part) {
          if (!part.streamed.replay || from !== at || to !== at + length) {
            throw new ZstdError('ZSTD_COMPRESS_FAILED', `streamed part at input offset ${at}: a plan by cost needs to read it twice, and it cannot be replayed`);
          }
          // A replay broken by the probe (closed, its worker gone) fails with the probe's error, not the layer's.
          await Promise.race([part.streamed.replay(probe.writable()), probe.stopped]).catch((err: unknown) => {
            throw probe.failed ?? err;
          });
          probe.mark();
        } else {
          await Promise.race([part.ready, probe.stopped]);
          await probe.file(part.path, (part.offset ?? 0) + from - at, to - from);
          probe.mark();
        }
      }
      at += length;
    }
    return await probe.finish();
  } finally {
    await probe.close();
  }
}

/**
 * The header `head` begins with, as it goes into the file (with the content
 * size put in when the frame was open, compressed with no size pledged, once
 * its size is known), and the bytes after it. Undefined while `head` is too
 * short to hold the header.
 */
async function completeHeader(head: Buffer, frame: CompressedFrame): Promise<{ header: Buffer; rest: Buffer } | undefined> {
  const h = parseFrameHeader(head, 0, frame.label);
  if (!h) return undefined;
  let header = head.subarray(0, h.headerSize);
  if (h.contentSize === null) header = withContentSize(header, await frame.final(), frame.label);
  checkFrameHeader(header, frame.size, frame.label, true);
  return { header, rest: head.subarray(h.headerSize) };
}

/**
 * Checks what the bundle format promises about a frame header: the content
 * size recorded, a window within wharfie's cap. Returns false while `head`
 * is too short to hold the header (an error once `final`).
 */
function checkFrameHeader(head: Buffer, size: number, label: string, final = false): boolean {
  const h = parseFrameHeader(head, 0, label);
  if (!h && !final) return false;
  if (!h || h.contentSize !== size || h.windowSize > MAX_BUNDLE_WINDOW) {
    throw new ZstdError(
      'ZSTD_COMPRESS_FAILED',
      `${label}: frame header expected content size ${size} and window <= ${MAX_BUNDLE_WINDOW}, found ${h ? `${h.contentSize} and ${h.windowSize}` : 'no header'}`,
    );
  }
  return true;
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
  if (typeof output === 'string') return writeViaTempFile(output, (out) => writeZstdFrames(source, out, { ...opts, end: true }));
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
