/**
 * Decodes frames of a seekable file on a worker thread, in chunks, so a
 * reader hashes or writes chunk k while chunk k+1 decodes.
 *
 * Why chunks and not whole frames: a 128 MiB frame decoded in one piece
 * needs 128 MiB of output memory, and memory the process has not touched yet
 * costs the kernel a page fault per 4 KiB: that made whole-frame decoding
 * 2-3x slower than decoding into a few reused buffers, which stay mapped
 * and in cache. Memory stays bounded at any frame size.
 *
 * The protocol is pull-based: the reader starts a frame (where it is in
 * the file: the worker reads its compressed bytes itself, 1 MiB at a time),
 * then sends buffers to fill; each comes back
 * (transferred) holding the next piece of the frame, in order. A reader
 * keeps a few buffers in flight and so bounds how far the worker runs ahead.
 * A frame may be started `after` the current one (read-ahead): it waits in
 * the worker's queue with the buffers sent for it and is decoded the moment
 * the current frame ends, so the worker does not idle at frame boundaries
 * while the reader works through the pieces it already has. A reader that
 * leaves a frame says so (`drop`); a start without `after` leaves them all.
 */
import type { Worker } from 'node:worker_threads';
import { startZstdWorker } from './worker.js';

type Request =
  | { kind: 'start'; stream: number; path: string; offset: number; length: number; windowLogMax: number; after: boolean }
  | { kind: 'fill'; stream: number; id: number; buf: Uint8Array }
  | { kind: 'drop'; stream: number };

type Reply = { id: number; buf: Uint8Array; n: number; end: boolean } | { id: number; buf: Uint8Array; error: string };

/** A filled buffer: `n` bytes of the frame, and whether the frame ended with them. */
export type Piece = { buf: Buffer; n: number; end: boolean } | { buf: Buffer; error: string };

function decodeWorkerMain(require: NodeJS.Require): void {
  const { parentPort, workerData } = require('node:worker_threads') as typeof import('node:worker_threads');
  const fs = require('node:fs') as typeof import('node:fs');
  const zstd = require(workerData.bindingPath as string) as typeof import('zstd-napi/binding.js');
  const port = parentPort!;
  const dctx = new zstd.DCtx();
  // The frame's compressed bytes are read here, a piece at a time: a 128 MiB frame of
  // gzip'd layers (which zstd cannot shrink) is never held whole.
  const READ = 1 << 20;
  const input = Buffer.allocUnsafe(READ);
  let windowLogMax = -1;
  let file: { path: string; fd: number } | undefined;
  type StartRequest = Extract<Request, { kind: 'start' }>;
  type FillRequest = Extract<Request, { kind: 'fill' }>;
  let current: { stream: number; pos: number; end: number; src: Uint8Array; ended: boolean; error?: string } | undefined;
  // Frames started behind the current one (read-ahead), in order, with the fills that came for them.
  const queued: Array<{ req: StartRequest; fills: FillRequest[] }> = [];
  const fdFor = (path: string): number => {
    if (file?.path !== path) {
      // Forgotten before it is closed: if the close or the next open fails, nothing may read or close that number again.
      const old = file;
      file = undefined;
      if (old) fs.closeSync(old.fd);
      file = { path, fd: fs.openSync(path, 'r') };
    }
    return file.fd;
  };
  const send = (reply: Reply): void => port.postMessage(reply, [reply.buf.buffer as ArrayBuffer]);
  const empty = (req: FillRequest): void => send({ id: req.id, buf: req.buf, n: 0, end: true });
  const begin = (req: StartRequest): void => {
    dctx.reset(zstd.ResetDirective.sessionOnly);
    if (req.windowLogMax !== windowLogMax) {
      dctx.setParameter(zstd.DParameter.windowLogMax, req.windowLogMax);
      windowLogMax = req.windowLogMax;
    }
    current = { stream: req.stream, pos: req.offset, end: req.offset + req.length, src: input.subarray(0, 0), ended: false };
    try {
      fdFor(req.path);
    } catch (err) {
      current.error = err instanceof Error ? err.message : String(err);
    }
  };
  /** Once the current frame is done (ended, failed or dropped), the next queued one starts at once with the fills it has. */
  const advance = (): void => {
    while (queued.length > 0 && (!current || current.ended || current.error !== undefined)) {
      const next = queued.shift()!;
      begin(next.req);
      for (const f of next.fills) fill(f);
    }
  };
  const fill = (req: FillRequest): void => {
    const job = current;
    // A fill for a stream the reader left, or past the end: the buffer goes back empty.
    if (!job || job.stream !== req.stream || job.ended || job.error) {
      if (job?.stream === req.stream && job.error) send({ id: req.id, buf: req.buf, error: job.error });
      else empty(req);
      return;
    }
    let n = 0;
    try {
      while (n < req.buf.length) {
        if (job.src.length === 0 && job.pos < job.end) {
          const got = fs.readSync(file!.fd, input, 0, Math.min(READ, job.end - job.pos), job.pos);
          if (got === 0) throw new Error(`the file ends at ${job.pos}, inside the frame`);
          job.pos += got;
          job.src = input.subarray(0, got);
        }
        const [ret, produced, consumed] = dctx.decompressStream(req.buf.subarray(n), job.src);
        job.src = job.src.subarray(consumed);
        n += produced;
        if (ret === 0) {
          job.ended = true;
          break;
        }
        if (produced === 0 && consumed === 0 && (job.src.length > 0 || job.pos >= job.end)) {
          throw new Error(`the frame's data ends after ${job.end} bytes, inside the frame`);
        }
      }
    } catch (err) {
      job.error = err instanceof Error ? err.message : String(err);
      send({ id: req.id, buf: req.buf, error: job.error });
      advance();
      return;
    }
    send({ id: req.id, buf: req.buf, n, end: job.ended });
    if (job.ended) advance();
  };
  port.on('message', (req: Request) => {
    if (req.kind === 'start') {
      const live = current && !current.ended && current.error === undefined;
      if (req.after && (live || queued.length > 0)) queued.push({ req, fills: [] });
      else {
        // A start that is no read-ahead: the reader left every other frame.
        for (const q of queued.splice(0)) q.fills.forEach(empty);
        begin(req);
      }
      return;
    }
    if (req.kind === 'drop') {
      const at = queued.findIndex((q) => q.req.stream === req.stream);
      if (at >= 0) queued.splice(at, 1)[0]!.fills.forEach(empty);
      if (current?.stream === req.stream && !current.ended && current.error === undefined) {
        current.ended = true;
        advance();
      }
      return;
    }
    const waiting = queued.find((q) => q.req.stream === req.stream);
    if (waiting) waiting.fills.push(req);
    else fill(req);
  });
}

/** One decoding worker, started on first use; `close()` stops it. */
export class FrameDecodeWorker {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, (piece: Piece) => void>();
  private nextId = 0;
  private nextStream = 0;
  private closed = false;

  /**
   * Starts decoding the frame at `offset` (`length` compressed bytes) of the
   * file at `path`, which the worker reads itself; returns the stream to
   * fill. The frame the worker was decoding is left, unless `after`: then
   * this one waits behind it and starts the moment it ends (read-ahead),
   * its fills held until then.
   */
  start(path: string, offset: number, length: number, windowLogMax: number, after = false): number {
    const worker = (this.worker ??= this.launch());
    const stream = this.nextStream++;
    const msg: Request = { kind: 'start', stream, path, offset, length, windowLogMax, after };
    worker.postMessage(msg);
    return stream;
  }

  /** The reader is done with `stream`: the worker stops decoding it (and gives back its fills empty). */
  drop(stream: number): void {
    const msg: Request = { kind: 'drop', stream };
    this.worker?.postMessage(msg);
  }

  /** Starts the thread now, so its start-up overlaps the caller's own work. */
  warm(): void {
    if (!this.closed) this.worker ??= this.launch();
  }

  /**
   * Fills `target` (which must own its whole ArrayBuffer: Buffer.allocUnsafeSlow)
   * with the next bytes of `stream`. `target` is transferred; the piece
   * holds a new view of the same memory.
   */
  fill(stream: number, target: Buffer): Promise<Piece> {
    // A reader closed while it waited: no new thread that nothing would stop.
    if (this.closed) return Promise.resolve({ buf: target, error: 'decoder closed' });
    const worker = (this.worker ??= this.launch());
    const id = this.nextId++;
    // Referenced while a fill is pending (someone awaits it), unreferenced when idle.
    if (this.pending.size === 0) worker.ref();
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      const buf = new Uint8Array(target.buffer, 0, target.byteLength);
      const msg: Request = { kind: 'fill', stream, id, buf };
      worker.postMessage(msg, [buf.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = undefined;
    this.failAll('decoder closed');
    // Referenced until it is gone: an unreferenced worker's exit does not keep the loop alive to report it.
    w?.ref();
    if (w) await w.terminate();
  }

  private launch(): Worker {
    if (this.closed) throw new Error('decoder closed');
    const worker = startZstdWorker(decodeWorkerMain);
    worker.on('message', (reply: Reply) => {
      // Replies still in flight when the decoder closed: it must stay referenced until it exits.
      if (this.worker !== worker) return;
      const done = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if (this.pending.size === 0) worker.unref();
      if (!done) return;
      const buf = Buffer.from(reply.buf.buffer, 0, reply.buf.byteLength);
      done('error' in reply ? { buf, error: reply.error } : { buf, n: reply.n, end: reply.end });
    });
    worker.on('error', (err) => this.failAll(err.message));
    worker.on('exit', () => {
      if (this.worker === worker) this.worker = undefined;
      this.failAll('decoder worker exited');
    });
    // An idle decoder must not keep the process alive.
    worker.unref();
    return worker;
  }

  private failAll(message: string): void {
    for (const done of this.pending.values()) done({ buf: Buffer.alloc(0), error: message });
    this.pending.clear();
  }
}
