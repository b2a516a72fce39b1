/**
 * zstd frame compression on worker threads, one frame per worker at a time.
 *
 * Why workers and not libzstd's own multithreading: with long-distance
 * matching, libzstd's multithreaded jobs lose most long matches (measured on
 * the bench-bundle image set: the first 150 MiB came to 18.6 MB with
 * nbWorkers=2 against 8.3 MB single-threaded, at the same speed). So every
 * frame is compressed single-threaded, as `zstd -16 --long=25` would, and
 * frames run side by side on the cores. The bytes of a frame depend only on
 * its input and the settings, never on how many workers ran.
 *
 * A frame's input is a list of slices: bytes handed over (transferred, not
 * copied), ranges of files the worker reads itself, so an archive made of
 * blob files is compressed without ever being buffered in this thread, or
 * bytes that arrive later through a `FrameFeed` (a layer read out of another
 * bundle, compressed as it is decoded, never stored). The content size is
 * pledged up front: the header records it and libzstd shrinks the window to
 * fit small frames.
 *
 * An open frame (`compressOpen`) starts before its end is chosen: the worker
 * compresses the slices it has and waits for the rest (`OpenFrame.close`).
 * Nothing is pledged, so its header comes without the content size; the
 * writer puts the size in once the frame is closed (`withContentSize`). For a
 * frame longer than the window the blocks are the same bytes as with the size
 * pledged (libzstd sizes nothing by it then), so the frame is byte for byte
 * what `compress` would have made of the same slices.
 */
import type { Worker } from 'node:worker_threads';
import { ZstdError } from './errors.js';
import { startZstdWorker } from './worker.js';

/**
 * Bytes, `length` bytes of the file at `path` from `offset` (once `ready`
 * has settled, when given: the file may still be on its way), or bytes
 * pushed in later.
 */
export type FrameSlice = Uint8Array | FileSlice | FrameFeed;

export interface FileSlice {
  path: string;
  offset: number;
  length: number;
  /** The file is complete when this resolves; the worker waits for it at this slice, not before the frame starts. */
  ready?: Promise<unknown>;
}

export interface FrameSettings {
  /** zstd level, 1..22. */
  level: number;
  /** Largest window, log2; libzstd lowers it for frames smaller than the window. */
  windowLog: number;
  /** Long-distance matching, as `zstd --long`. */
  longDistanceMatching: boolean;
}

/** A slice as the worker sees it: a feed is its number within the frame; a file that is not ready yet names its gate. */
type WireSlice = Uint8Array | { path: string; offset: number; length: number; gate?: number } | { feed: number; length: number };

type Request =
  /**
   * `size` undefined: an open frame, compressed with no size pledged; its last slices come in a
   * 'close', or with the request when it was closed before a worker took it (`closed`).
   */
  | ({ kind: 'frame'; id: number; size: number | undefined; closed?: boolean; slices: WireSlice[] } & FrameSettings)
  /** An open frame's last slices. */
  | { kind: 'close'; id: number; slices: WireSlice[] }
  | { kind: 'data'; id: number; feed: number; buf: Uint8Array; n: number }
  /** A gated file slice's file is complete. */
  | { kind: 'open'; id: number; gate: number };

type WorkerReply =
  | { id: number; chunk: Uint8Array }
  | { id: number; done: true }
  | { id: number; error: string }
  /** A feed's buffer, consumed (or dropped) and handed back for reuse. */
  | { id: number; feed: number; returned: Uint8Array }
  /** Input bytes compressed since the last report (for progress). */
  | { id: number; consumed: number };

/** Bytes a feed copies into each buffer it sends, and buffers it may have out at once: 8 MiB per feed. */
const FEED_BUFFER = 1024 * 1024;
const FEED_BUFFERS = 8;
/**
 * Feed buffers back from the workers, for the next feed: fresh memory costs
 * a page fault per 4 KiB, and a layer is often a feed of its own.
 */
const spareBuffers: Uint8Array[] = [];

function feedBuffer(length: number): Uint8Array {
  return length >= FEED_BUFFER ? (spareBuffers.pop() ?? new Uint8Array(FEED_BUFFER)) : new Uint8Array(length);
}

function spare(buf: Uint8Array): void {
  if (buf.length === FEED_BUFFER && spareBuffers.length < 2 * FEED_BUFFERS) spareBuffers.push(buf);
}

/**
 * Bytes of a frame that arrive after the frame is queued: `write()` them in
 * order, `length` in all. Each write is copied into a few reused buffers
 * sent to the worker as it gets to them; a write waits while all of them
 * are out, which is the back-pressure on whoever produces the bytes.
 */
export class FrameFeed {
  private send: ((buf: Uint8Array, n: number) => void) | undefined;
  private readonly queued: Array<{ buf: Uint8Array; n: number }> = [];
  private out = 0;
  private current: Uint8Array | undefined;
  private fill = 0;
  private taken = 0;
  private failure: unknown;
  private wake: (() => void) | undefined;
  /** Set by the pool: how a feed failure stops its frame. */
  onFail: ((err: unknown) => void) | undefined;

  constructor(readonly length: number) {}

  /** Copies `chunk` in; it may be reused once the promise resolves. */
  async write(chunk: Uint8Array): Promise<void> {
    if (this.taken + chunk.length > this.length) {
      throw new ZstdError('ZSTD_COMPRESS_FAILED', `frame input: ${this.taken + chunk.length} bytes written to a slice of ${this.length}`);
    }
    let at = 0;
    while (at < chunk.length) {
      this.check();
      if (!this.current) {
        while (this.out >= FEED_BUFFERS) {
          await new Promise<void>((resolve) => (this.wake = resolve));
          this.check();
        }
        this.current = feedBuffer(this.length - this.taken);
        this.fill = 0;
        this.out++;
      }
      const n = Math.min(chunk.length - at, this.current.length - this.fill);
      this.current.set(chunk.subarray(at, at + n), this.fill);
      this.fill += n;
      this.taken += n;
      at += n;
      if (this.fill === this.current.length || this.taken === this.length) this.flush();
    }
  }

  /** The error the feed failed with, if it did. */
  get failed(): unknown {
    return this.failure;
  }

  /** Stops the feed; its frame fails with `err`. */
  fail(err: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    this.notify();
    this.onFail?.(err);
  }

  /** The pool: the frame is on a worker, send what is queued and what follows. */
  attach(send: (buf: Uint8Array, n: number) => void): void {
    this.send = send;
    for (const q of this.queued.splice(0)) send(q.buf, q.n);
  }

  /** The pool: the worker is done with one buffer. */
  returned(buf: Uint8Array): void {
    this.out--;
    spare(buf);
    this.notify();
  }

  private flush(): void {
    const buf = this.current!;
    const n = this.fill;
    this.current = undefined;
    this.fill = 0;
    if (this.send) this.send(buf, n);
    else this.queued.push({ buf, n });
  }

  private check(): void {
    if (this.failure !== undefined) throw this.failure;
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/**
 * The compressed bytes of one frame as they arrive from its worker. `chunks()`
 * yields them in order and ends when the frame is complete; chunks that
 * arrive before anyone reads are kept.
 */
export class CompressedFrame {
  private readonly pending: Buffer[] = [];
  private complete = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  private readonly sizeKnown: Promise<number>;
  private setSize: { resolve: (n: number) => void; reject: (err: Error) => void } | undefined;

  constructor(
    /** Uncompressed bytes in the frame; for an open frame, those given so far until it is closed. */
    public size: number,
    public label: string,
    open = false,
  ) {
    this.sizeKnown = open ? new Promise((resolve, reject) => (this.setSize = { resolve, reject })) : Promise.resolve(size);
    this.sizeKnown.catch(() => {});
  }

  /** The frame's final uncompressed size, once it is known. */
  final(): Promise<number> {
    return this.sizeKnown;
  }

  /** An open frame's end is chosen: `size` bytes in all. */
  closeAt(size: number, label: string): void {
    this.size = size;
    this.label = label;
    this.setSize?.resolve(size);
    this.setSize = undefined;
  }

  push(chunk: Buffer): void {
    this.pending.push(chunk);
    this.notify();
  }

  end(): void {
    this.complete = true;
    this.notify();
  }

  fail(err: Error): void {
    this.failure ??= err;
    this.notify();
    this.setSize?.reject(this.failure);
    this.setSize = undefined;
  }

  async *chunks(): AsyncGenerator<Buffer> {
    for (;;) {
      if (this.failure) throw this.failure;
      const next = this.pending.shift();
      if (next) {
        yield next;
        continue;
      }
      if (this.complete) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/**
 * Runs inside each worker (started from its source text): compress every
 * frame request with one reused context, posting output in 1 MiB chunks.
 * A frame with feeds is compressed as far as its bytes have come; each
 * 'data' message moves it on, and its buffer goes back to be reused.
 */
function frameWorkerMain(require: NodeJS.Require): void {
  const { parentPort, workerData } = require('node:worker_threads') as typeof import('node:worker_threads');
  const fs = require('node:fs') as typeof import('node:fs');
  const zstd = require(workerData.bindingPath as string) as typeof import('zstd-napi/binding.js');
  const OUT_CHUNK = 1 << 20;
  const READ_CHUNK = 4 << 20;
  const cctx = new zstd.CCtx();
  const readBuf = Buffer.allocUnsafe(READ_CHUNK);
  const port = parentPort!;
  type FrameRequest = Extract<Request, { kind: 'frame' }>;
  /** `closed`: the frame's last slices are in (an open frame's come in a 'close'). */
  let job: { req: FrameRequest; next: number; remaining: number | undefined; data: Map<number, Array<{ buf: Uint8Array; n: number }>>; open: Set<number>; closed: boolean } | undefined;
  let out = new Uint8Array(OUT_CHUNK);
  let fill = 0;

  const post = (id: number): void => {
    if (fill === 0) return;
    const chunk = fill === out.length ? out : out.slice(0, fill);
    port.postMessage({ id, chunk }, [chunk.buffer as ArrayBuffer]);
    out = new Uint8Array(OUT_CHUNK);
    fill = 0;
  };
  const giveBack = (id: number, feed: number, buf: Uint8Array): void => port.postMessage({ id, feed, returned: buf }, [buf.buffer as ArrayBuffer]);
  // Progress: input compressed, reported every 512 KiB (and at each frame's end). At level 19 a
  // 4 MiB read takes seconds to compress: fed whole, the line's speed and ETA jumped and froze.
  // zstd's output does not depend on how its input is cut into calls (the golden outputs hold).
  const PROGRESS_STEP = 512 << 10;
  let unreported = 0;
  const report = (id: number, force = false): void => {
    if (unreported === 0 || (!force && unreported < PROGRESS_STEP)) return;
    port.postMessage({ id, consumed: unreported });
    unreported = 0;
  };
  const feedPiece = (id: number, src: Uint8Array, op: number): void => {
    let input = src;
    for (;;) {
      const [remaining, produced, consumed] = cctx.compressStream2(out.subarray(fill), input, op);
      fill += produced;
      input = input.subarray(consumed);
      if (fill === out.length) post(id);
      const finished = op === zstd.EndDirective.end ? remaining === 0 : input.length === 0;
      if (finished) return;
    }
  };
  const feed = (id: number, src: Uint8Array, op: number): void => {
    for (let at = 0; ; ) {
      const piece = src.subarray(at, at + PROGRESS_STEP);
      at += piece.length;
      const last = at >= src.length;
      feedPiece(id, piece, last ? op : zstd.EndDirective.continue);
      unreported += piece.length;
      report(id);
      if (last) return;
    }
  };
  const readFile = (id: number, slice: { path: string; offset: number; length: number }): void => {
    const fd = fs.openSync(slice.path, 'r');
    try {
      let done = 0;
      while (done < slice.length) {
        const n = fs.readSync(fd, readBuf, 0, Math.min(READ_CHUNK, slice.length - done), slice.offset + done);
        if (n === 0) throw new Error(`${slice.path}: expected ${slice.length} bytes from offset ${slice.offset}, file ends after ${done}`);
        feed(id, readBuf.subarray(0, n), zstd.EndDirective.continue);
        done += n;
      }
    } finally {
      fs.closeSync(fd);
    }
  };
  /** Compresses as far as the frame's bytes have come; ends the frame when all are in. */
  const advance = (): void => {
    const current = job!;
    const { req } = current;
    try {
      while (current.next < req.slices.length) {
        const slice = req.slices[current.next]!;
        if (slice instanceof Uint8Array) feed(req.id, slice, zstd.EndDirective.continue);
        else if ('path' in slice) {
          // A file still on its way: compress up to here, go on when its gate opens.
          if (slice.gate !== undefined && !current.open.has(slice.gate)) return;
          readFile(req.id, slice);
        }
        else {
          current.remaining ??= slice.length;
          const queue = current.data.get(slice.feed) ?? [];
          while (current.remaining > 0 && queue.length > 0) {
            const { buf, n } = queue.shift()!;
            if (n > current.remaining) throw new Error(`feed ${slice.feed}: more than its ${slice.length} bytes`);
            feed(req.id, buf.subarray(0, n), zstd.EndDirective.continue);
            current.remaining -= n;
            giveBack(req.id, slice.feed, buf);
          }
          if (current.remaining > 0) return;
          current.remaining = undefined;
        }
        current.next++;
      }
      // An open frame's end is not chosen yet: wait for its last slices.
      if (!current.closed) return;
      feed(req.id, new Uint8Array(0), zstd.EndDirective.end);
      post(req.id);
      report(req.id, true);
      job = undefined;
      port.postMessage({ id: req.id, done: true });
    } catch (err) {
      job = undefined;
      fill = 0;
      unreported = 0;
      port.postMessage({ id: req.id, error: err instanceof Error ? err.message : String(err) });
    }
  };

  port.on('message', (req: Request) => {
    if (req.kind === 'open') {
      if (job?.req.id !== req.id) return;
      job.open.add(req.gate);
      advance();
      return;
    }
    if (req.kind === 'close') {
      if (job?.req.id !== req.id) return;
      job.req.slices.push(...req.slices);
      job.closed = true;
      advance();
      return;
    }
    if (req.kind === 'data') {
      // Data for a frame that failed or is gone: only its buffer matters.
      if (job?.req.id !== req.id) return giveBack(req.id, req.feed, req.buf);
      const queue = job.data.get(req.feed) ?? [];
      queue.push({ buf: req.buf, n: req.n });
      job.data.set(req.feed, queue);
      advance();
      return;
    }
    try {
      cctx.reset(zstd.ResetDirective.sessionAndParameters);
      cctx.setParameter(zstd.CParameter.compressionLevel, req.level);
      cctx.setParameter(zstd.CParameter.windowLog, req.windowLog);
      cctx.setParameter(zstd.CParameter.enableLongDistanceMatching, req.longDistanceMatching ? 1 : 0);
      // An open frame pledges nothing: its size goes into the header when it is known.
      if (req.size !== undefined) cctx.setPledgedSrcSize(req.size);
    } catch (err) {
      port.postMessage({ id: req.id, error: err instanceof Error ? err.message : String(err) });
      return;
    }
    job = { req, next: 0, remaining: undefined, data: new Map(), open: new Set(), closed: req.size !== undefined || req.closed === true };
    advance();
  });
}

interface Slot {
  worker: Worker;
  busy: Job | undefined;
}

interface Job {
  id: number;
  request: Extract<Request, { kind: 'frame' }>;
  frame: CompressedFrame;
  feeds: FrameFeed[];
  /** Feeds already sending to the worker. */
  attached: number;
  /** Buffers to move with the next message to the worker. */
  transfer: ArrayBuffer[];
  /** A promise per gate: its file is complete. */
  gates: Array<Promise<unknown>>;
  /** Gates whose files are complete, and the worker to tell (once the frame is on one). */
  opened: number[];
  worker?: Worker;
}

/** A frame queued before its end is chosen (`FrameCompressorPool.compressOpen`). */
export interface OpenFrame {
  readonly frame: CompressedFrame;
  /** Its last slices; the frame's label from now on names its final range. */
  close(rest: readonly FrameSlice[], label: string): void;
}

function sliceBytes(slices: readonly FrameSlice[]): number {
  return slices.reduce((n, s) => n + (s instanceof Uint8Array ? s.byteLength : s.length), 0);
}

/** A fixed set of workers; frames queue until one is free. */
export class FrameCompressorPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Job[] = [];
  private readonly byId = new Map<number, Job>();
  private nextId = 0;
  private closed = false;

  constructor(
    readonly size: number,
    /** Called with input bytes as the workers compress them, for progress. */
    private readonly onInput?: (n: number) => void,
  ) {
    if (!Number.isInteger(size) || size < 1) throw new ZstdError('ZSTD_INVALID_OPTION', `workers expected a positive integer, found ${size}`);
  }

  /**
   * Queues one frame. Byte slices are transferred to the worker: the caller
   * must not touch them afterwards (and must not pass views of shared pools).
   * Feeds may be written to at once; their bytes wait until the frame is on a worker.
   */
  compress(slices: readonly FrameSlice[], settings: FrameSettings, label: string): CompressedFrame {
    return this.queueFrame(slices, settings, label, false).frame;
  }

  /**
   * Queues a frame whose end is not chosen yet: the worker compresses
   * `slices` and waits for the rest, given to `close`. Its header lacks the
   * content size (see `withContentSize`).
   */
  compressOpen(slices: readonly FrameSlice[], settings: FrameSettings, label: string): OpenFrame {
    const job = this.queueFrame(slices, settings, label, true);
    let closed = false;
    return {
      frame: job.frame,
      close: (rest, finalLabel) => {
        if (closed) throw new Error('FrameCompressorPool: frame already closed');
        closed = true;
        // A frame that failed already reports its own error where its bytes are read.
        if (!this.byId.has(job.id)) return;
        const wire = this.wire(job, rest);
        job.frame.closeAt(job.frame.size + sliceBytes(rest), finalLabel);
        if (job.worker) {
          job.worker.postMessage({ kind: 'close', id: job.id, slices: wire } satisfies Request, job.transfer.splice(0));
          this.attachFeeds(job);
        } else {
          // Still unpledged: one way to compress an open frame, whenever its end comes.
          job.request.slices.push(...wire);
          job.request.closed = true;
        }
        this.failEarly(job);
      },
    };
  }

  private queueFrame(slices: readonly FrameSlice[], settings: FrameSettings, label: string, open: boolean): Job {
    if (this.closed) throw new Error('FrameCompressorPool: already closed');
    const size = sliceBytes(slices);
    const frame = new CompressedFrame(size, label, open);
    const id = this.nextId++;
    const job: Job = { id, request: { kind: 'frame', id, size: open ? undefined : size, slices: [], ...settings }, frame, feeds: [], attached: 0, transfer: [], gates: [], opened: [] };
    job.request.slices = this.wire(job, slices);
    this.byId.set(id, job);
    this.queue.push(job);
    if (!this.failEarly(job)) this.dispatch();
    return job;
  }

  /** One that failed before its frame was queued (or closed) fails it now: no worker may wait for its bytes. */
  private failEarly(job: Job): boolean {
    const early = job.feeds.find((f) => f.failed !== undefined);
    if (early) this.failJob(job, early.failed);
    return early !== undefined;
  }

  /** The slices as the worker takes them; bytes to transfer, feeds and gates are added to the job. */
  private wire(job: Job, slices: readonly FrameSlice[]): WireSlice[] {
    const gatesBefore = job.gates.length;
    const wire = slices.map((s): WireSlice => {
      if (s instanceof FrameFeed) {
        // A feed that fails (its producer broke) fails the frame; the worker waiting on it is replaced.
        s.onFail = (err) => this.failJob(job, err);
        return { feed: job.feeds.push(s) - 1, length: s.length };
      }
      if (!(s instanceof Uint8Array)) {
        if (!s.ready) return { path: s.path, offset: s.offset, length: s.length };
        // One gate per promise: a file cut across slices opens them all at once.
        let gate = job.gates.indexOf(s.ready);
        if (gate < 0) gate = job.gates.push(s.ready) - 1;
        return { path: s.path, offset: s.offset, length: s.length, gate };
      }
      // Only a view of a whole ArrayBuffer can be moved; anything else is copied once.
      const owned = s.byteOffset === 0 && s.byteLength === s.buffer.byteLength && !job.transfer.includes(s.buffer as ArrayBuffer) ? s : s.slice();
      job.transfer.push(owned.buffer as ArrayBuffer);
      return owned;
    });
    // A file that never arrives fails the frame; one that does opens its gate, now or once the frame is on a worker.
    job.gates.slice(gatesBefore).forEach((ready, i) => {
      const gate = gatesBefore + i;
      ready.then(
        () => {
          job.opened.push(gate);
          job.worker?.postMessage({ kind: 'open', id: job.id, gate } satisfies Request);
        },
        (err: unknown) => this.failJob(job, err),
      );
    });
    return wire;
  }

  /** Feeds not yet sending to the job's worker start now. */
  private attachFeeds(job: Job): void {
    const worker = job.worker!;
    for (; job.attached < job.feeds.length; job.attached++) {
      const index = job.attached;
      job.feeds[index]!.attach((buf, n) => worker.postMessage({ kind: 'data', id: job.id, feed: index, buf, n } satisfies Request, [buf.buffer as ArrayBuffer]));
    }
  }

  /** Stops every worker; frames still running fail. */
  async close(): Promise<void> {
    this.closed = true;
    const err = new ZstdError('ZSTD_COMPRESS_FAILED', 'compression stopped before the frame was complete');
    this.queue.length = 0;
    for (const job of [...this.byId.values()]) this.settle(job, err);
    this.byId.clear();
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.slots.length = 0;
  }

  private dispatch(): void {
    while (this.queue.length > 0 && !this.closed) {
      let slot = this.slots.find((s) => !s.busy);
      if (!slot && this.slots.length < this.size) slot = this.spawn();
      if (!slot) return;
      const job = this.queue.shift()!;
      const worker = slot.worker;
      slot.busy = job;
      job.worker = worker;
      worker.postMessage(job.request, job.transfer.splice(0));
      for (const gate of job.opened) worker.postMessage({ kind: 'open', id: job.id, gate } satisfies Request);
      this.attachFeeds(job);
    }
  }

  private spawn(): Slot {
    const worker = startZstdWorker(frameWorkerMain);
    const slot: Slot = { worker, busy: undefined };
    worker.on('message', (reply: WorkerReply) => this.onReply(slot, reply));
    worker.on('error', (err) => this.onWorkerExit(slot, err));
    worker.on('exit', (code) => {
      if (!this.closed) this.onWorkerExit(slot, new Error(`compression worker exited with code ${code}`));
    });
    this.slots.push(slot);
    return slot;
  }

  private onReply(slot: Slot, reply: WorkerReply): void {
    const job = this.byId.get(reply.id);
    if (!job) return;
    if ('chunk' in reply) {
      job.frame.push(Buffer.from(reply.chunk.buffer, reply.chunk.byteOffset, reply.chunk.byteLength));
      return;
    }
    if ('returned' in reply) {
      job.feeds[reply.feed]?.returned(reply.returned);
      return;
    }
    if ('consumed' in reply) {
      this.onInput?.(reply.consumed);
      return;
    }
    slot.busy = undefined;
    if ('error' in reply) this.settle(job, new ZstdError('ZSTD_COMPRESS_FAILED', `${job.frame.label}: ${reply.error}`));
    else this.settle(job);
    this.dispatch();
  }

  /** A frame is over: done, or failed with `err` (its feeds too, so their writers stop waiting). */
  private settle(job: Job, err?: unknown): void {
    if (!this.byId.delete(job.id)) return;
    if (err === undefined) {
      job.frame.end();
      return;
    }
    job.frame.fail(err instanceof Error ? err : new Error(String(err)));
    for (const feed of job.feeds) feed.fail(err);
  }

  /** A feed failed: the frame fails with the feed's own error, and a worker waiting for its bytes is replaced. */
  private failJob(job: Job, err: unknown): void {
    if (!this.byId.has(job.id)) return;
    const queued = this.queue.indexOf(job);
    if (queued >= 0) this.queue.splice(queued, 1);
    const slot = this.slots.find((s) => s.busy === job);
    this.settle(job, err);
    if (slot) {
      this.slots.splice(this.slots.indexOf(slot), 1);
      slot.worker.removeAllListeners('exit');
      void slot.worker.terminate();
    }
    this.dispatch();
  }

  private onWorkerExit(slot: Slot, err: Error): void {
    const at = this.slots.indexOf(slot);
    if (at < 0) return;
    this.slots.splice(at, 1);
    const job = slot.busy;
    slot.busy = undefined;
    if (job) this.settle(job, new ZstdError('ZSTD_COMPRESS_FAILED', `${job.frame.label}: ${err.message}`, { cause: err }));
    this.dispatch();
  }
}
