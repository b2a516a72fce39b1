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
 * copied) or ranges of files the worker reads itself, so an archive made of
 * blob files is compressed without ever being buffered in this thread. The
 * content size is pledged up front: the header records it and libzstd
 * shrinks the window to fit small frames.
 */
import type { Worker } from 'node:worker_threads';
import { ZstdError } from './errors.js';
import { startZstdWorker } from './worker.js';

/** Bytes, or `length` bytes of the file at `path` from `offset`. */
export type FrameSlice = Uint8Array | { path: string; offset: number; length: number };

export interface FrameSettings {
  /** zstd level, 1..22. */
  level: number;
  /** Largest window, log2; libzstd lowers it for frames smaller than the window. */
  windowLog: number;
  /** Long-distance matching, as `zstd --long`. */
  longDistanceMatching: boolean;
}

interface FrameRequest extends FrameSettings {
  id: number;
  size: number;
  slices: Array<Uint8Array | { path: string; offset: number; length: number }>;
}

type WorkerReply = { id: number; chunk: Uint8Array } | { id: number; done: true } | { id: number; error: string };

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

  constructor(
    /** Uncompressed bytes in the frame. */
    readonly size: number,
    readonly label: string,
  ) {}

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

  port.on('message', (req: FrameRequest) => {
    let out = new Uint8Array(OUT_CHUNK);
    let fill = 0;
    const post = (): void => {
      if (fill === 0) return;
      const chunk = fill === out.length ? out : out.slice(0, fill);
      port.postMessage({ id: req.id, chunk }, [chunk.buffer as ArrayBuffer]);
      out = new Uint8Array(OUT_CHUNK);
      fill = 0;
    };
    const feed = (src: Uint8Array, op: number): void => {
      let input = src;
      for (;;) {
        const [remaining, produced, consumed] = cctx.compressStream2(out.subarray(fill), input, op);
        fill += produced;
        input = input.subarray(consumed);
        if (fill === out.length) post();
        const finished = op === zstd.EndDirective.end ? remaining === 0 : input.length === 0;
        if (finished) return;
      }
    };
    try {
      cctx.reset(zstd.ResetDirective.sessionAndParameters);
      cctx.setParameter(zstd.CParameter.compressionLevel, req.level);
      cctx.setParameter(zstd.CParameter.windowLog, req.windowLog);
      cctx.setParameter(zstd.CParameter.enableLongDistanceMatching, req.longDistanceMatching ? 1 : 0);
      cctx.setPledgedSrcSize(req.size);
      for (const slice of req.slices) {
        if (slice instanceof Uint8Array) {
          feed(slice, zstd.EndDirective.continue);
          continue;
        }
        const fd = fs.openSync(slice.path, 'r');
        try {
          let done = 0;
          while (done < slice.length) {
            const n = fs.readSync(fd, readBuf, 0, Math.min(READ_CHUNK, slice.length - done), slice.offset + done);
            if (n === 0) throw new Error(`${slice.path}: expected ${slice.length} bytes from offset ${slice.offset}, file ends after ${done}`);
            feed(readBuf.subarray(0, n), zstd.EndDirective.continue);
            done += n;
          }
        } finally {
          fs.closeSync(fd);
        }
      }
      feed(new Uint8Array(0), zstd.EndDirective.end);
      post();
      port.postMessage({ id: req.id, done: true });
    } catch (err) {
      port.postMessage({ id: req.id, error: err instanceof Error ? err.message : String(err) });
    }
  });
}

interface Slot {
  worker: Worker;
  busy: CompressedFrame | undefined;
}

/** A fixed set of workers; frames queue until one is free. */
export class FrameCompressorPool {
  private readonly slots: Slot[] = [];
  private readonly queue: Array<{ request: FrameRequest; frame: CompressedFrame; transfer: ArrayBuffer[] }> = [];
  private readonly byId = new Map<number, CompressedFrame>();
  private nextId = 0;
  private closed = false;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new ZstdError('ZSTD_INVALID_OPTION', `workers expected a positive integer, found ${size}`);
  }

  /**
   * Queues one frame. Byte slices are transferred to the worker: the caller
   * must not touch them afterwards (and must not pass views of shared pools).
   */
  compress(slices: readonly FrameSlice[], settings: FrameSettings, label: string): CompressedFrame {
    if (this.closed) throw new Error('FrameCompressorPool: already closed');
    const size = slices.reduce((n, s) => n + (s instanceof Uint8Array ? s.byteLength : s.length), 0);
    const frame = new CompressedFrame(size, label);
    const id = this.nextId++;
    const transfer: ArrayBuffer[] = [];
    const plain = slices.map((s) => {
      if (!(s instanceof Uint8Array)) return { path: s.path, offset: s.offset, length: s.length };
      // Only a view of a whole ArrayBuffer can be moved; anything else is copied once.
      const owned = s.byteOffset === 0 && s.byteLength === s.buffer.byteLength && !transfer.includes(s.buffer as ArrayBuffer) ? s : s.slice();
      transfer.push(owned.buffer as ArrayBuffer);
      return owned;
    });
    this.byId.set(id, frame);
    this.queue.push({ request: { id, size, slices: plain, ...settings }, frame, transfer });
    this.dispatch();
    return frame;
  }

  /** Stops every worker; frames still running fail. */
  async close(): Promise<void> {
    this.closed = true;
    const err = new ZstdError('ZSTD_COMPRESS_FAILED', 'compression stopped before the frame was complete');
    for (const { frame } of this.queue) frame.fail(err);
    this.queue.length = 0;
    for (const frame of this.byId.values()) frame.fail(err);
    this.byId.clear();
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.slots.length = 0;
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      let slot = this.slots.find((s) => !s.busy);
      if (!slot && this.slots.length < this.size) slot = this.spawn();
      if (!slot) return;
      const job = this.queue.shift()!;
      slot.busy = job.frame;
      slot.worker.postMessage(job.request, job.transfer);
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
    const frame = this.byId.get(reply.id);
    if (!frame) return;
    if ('chunk' in reply) {
      frame.push(Buffer.from(reply.chunk.buffer, reply.chunk.byteOffset, reply.chunk.byteLength));
      return;
    }
    this.byId.delete(reply.id);
    slot.busy = undefined;
    if ('error' in reply) frame.fail(new ZstdError('ZSTD_COMPRESS_FAILED', `${frame.label}: ${reply.error}`));
    else frame.end();
    this.dispatch();
  }

  private onWorkerExit(slot: Slot, err: Error): void {
    this.slots.splice(this.slots.indexOf(slot), 1);
    const frame = slot.busy;
    slot.busy = undefined;
    if (frame) {
      for (const [id, f] of this.byId) if (f === frame) this.byId.delete(id);
      frame.fail(new ZstdError('ZSTD_COMPRESS_FAILED', `${frame.label}: ${err.message}`, { cause: err }));
    }
    this.dispatch();
  }
}
