/**
 * Decodes whole frames of a seekable file on a worker thread, so a reader
 * can hash and write frame k while frame k+1 decodes. The worker receives a
 * frame's compressed bytes (transferred) and sends its decompressed bytes
 * back (transferred); one frame at a time, in request order.
 */
import type { Worker } from 'node:worker_threads';
import { startZstdWorker } from './worker.js';

/** What the worker sends back: the decoded bytes (a view of the target), or the native error message. */
export type DecodeOutcome = { data: Buffer } | { error: string };

interface DecodeRequest {
  id: number;
  src: Uint8Array;
  /** Where to decode (transferred there and back): reused memory decodes 2-3x faster than fresh pages. */
  dst: Uint8Array;
  windowLogMax: number;
}

type DecodeReply = { id: number; data: Uint8Array; n: number } | { id: number; error: string; data: Uint8Array };

function decodeWorkerMain(require: NodeJS.Require): void {
  const { parentPort, workerData } = require('node:worker_threads') as typeof import('node:worker_threads');
  const zstd = require(workerData.bindingPath as string) as typeof import('zstd-napi/binding.js');
  const port = parentPort!;
  const dctx = new zstd.DCtx();
  let windowLogMax = -1;
  port.on('message', (req: DecodeRequest) => {
    try {
      if (req.windowLogMax !== windowLogMax) {
        dctx.setParameter(zstd.DParameter.windowLogMax, req.windowLogMax);
        windowLogMax = req.windowLogMax;
      }
      const n = dctx.decompress(req.dst, req.src);
      port.postMessage({ id: req.id, data: req.dst, n }, [req.dst.buffer as ArrayBuffer]);
    } catch (err) {
      dctx.reset(zstd.ResetDirective.sessionOnly);
      port.postMessage({ id: req.id, error: err instanceof Error ? err.message : String(err), data: req.dst }, [req.dst.buffer as ArrayBuffer]);
    }
  });
}

/** One decoding worker, started on first use; `close()` stops it. */
export class FrameDecodeWorker {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, (outcome: DecodeOutcome) => void>();
  private nextId = 0;

  /**
   * Decodes `src` into `target`. Both are transferred to the worker: neither
   * may be used afterwards (views of them read as empty); the result is a
   * new view of the target's memory. `target` must own its whole
   * ArrayBuffer (Buffer.allocUnsafeSlow), `src` is copied once if it does not.
   */
  decode(src: Buffer, target: Buffer, windowLogMax: number): Promise<DecodeOutcome> {
    const worker = (this.worker ??= this.start());
    const id = this.nextId++;
    const owned = src.byteOffset === 0 && src.byteLength === src.buffer.byteLength ? src : Buffer.from(src);
    const dst = new Uint8Array(target.buffer, 0, target.byteLength);
    // Referenced while a decode is pending (someone awaits it), unreferenced when idle.
    if (this.pending.size === 0) worker.ref();
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      worker.postMessage({ id, src: owned, dst, windowLogMax } satisfies DecodeRequest, [owned.buffer as ArrayBuffer, dst.buffer as ArrayBuffer]);
    });
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    this.failAll('decoder closed');
    if (w) await w.terminate();
  }

  private start(): Worker {
    const worker = startZstdWorker(decodeWorkerMain);
    worker.on('message', (reply: DecodeReply) => {
      const done = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if (this.pending.size === 0) worker.unref();
      if (!done) return;
      if ('error' in reply) done({ error: reply.error });
      else done({ data: Buffer.from(reply.data.buffer, 0, reply.n) });
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
    for (const done of this.pending.values()) done({ error: message });
    this.pending.clear();
  }
}
