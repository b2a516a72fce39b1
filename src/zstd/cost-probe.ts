/**
 * What a stretch of input will cost to compress at a high level, estimated
 * cheaply, so a bundle's frames can be cut into equal work instead of equal
 * bytes (archive/frame-plan.ts, `planFrameEndsByCost`).
 *
 * Level 16 costs 0.10 to 0.25 CPU s per MB from one layer to the next. The
 * registry's gzip size does not predict that, and neither does `zstd -1`
 * (both put a 5.2 s and an 11.3 s layer of the bench set within 12% of each
 * other). `zstd -1` with long matching and the bundle's window comes
 * close: what repeats within 32 MiB is cheap for both. So the probe is
 * that: the input in order, at level 1 with long matching and window 2^25,
 * flushed every 4 MiB, at each `mark` and at each window's end, and the
 * output bytes counted; the output is thrown away. It runs on a worker
 * thread of its own.
 *
 * Long matches count from 256 bytes, not libzstd's 64. Measured over nine
 * frames of the two bench sets, CPU s of level 16 per MiB of probe output:
 * 0.47 to 0.85 with 64 (a library repeated ten times cost the probe 3% of
 * each copy, and level 16 almost nothing), 0.61 to 0.84 with 256, 0.61 to
 * 0.85 with 1024; levels 3 and 5, a bigger hash table or a faster long-match
 * sampling were no closer (0.35 to 0.97).
 *
 * A frame starts with nothing behind it, and the probe's one stream does
 * not: where the content repeats what came before, a frame that starts
 * there pays for the first copy again, and the curve does not show it (the
 * disjoint bench set: a frame cut 246 MiB in, among hard-linked copies of a
 * 24.6 MiB library, came to 44.5 MiB of probe output on its own against 35.9
 * on the curve; level 16 took 30.9 s over it, the other worker 23.8 s). So
 * a second level-1 stream restarts every window (2^25 bytes) and the curve
 * carries, at each restart, what it cost beyond the first stream over that
 * window (`CostCurve.restart`): what a frame starting there adds. Both
 * streams take 2.4-2.5 s of a core for 503 MB of bench layers, the first
 * alone 1.0 s: twice the work, and 0.35 s for the 14 restarts (two streams
 * that never restart take 2.1 s). No frame starts before the plan's
 * earliest first end, so the second stream starts at the window holding it
 * (`firstStart`): 96 MiB on that set, 2.59 s in all against 2.90 s from 0,
 * alternating in one run.
 *
 * The estimate is deterministic (libzstd's level-1 bytes), so a plan made
 * from it is the same on every machine.
 */
import { Writable } from 'node:stream';
import type { Worker } from 'node:worker_threads';
import { ZstdError } from './errors.js';
import { MAX_BUNDLE_WINDOW } from './frame-header.js';
import { startZstdWorker } from './worker.js';

/** Cumulative probe output at input offsets: `at[i]` bytes in, `cost[i]` bytes out; both start at 0 and ascend. */
export interface CostCurve {
  readonly at: readonly number[];
  readonly cost: readonly number[];
  /**
   * What a frame that starts at `at[i]` (every `RESTART_SPACING` bytes, from
   * the first window a frame can start in: 0 unless the probe was told)
   * costs beyond the curve over the window after it, `extra[i]` bytes of
   * probe output (0 or more): the repeats of what came before, which the
   * frame cannot refer back to. The last window is measured over what there
   * is of it. None: starting a frame costs nothing more.
   */
  readonly restart?: { readonly at: readonly number[]; readonly extra: readonly number[] };
}

/** Where the probe's second stream restarts, and how far a frame's start costs more: the bundle's window. */
export const RESTART_SPACING = MAX_BUNDLE_WINDOW;

type ProbeRequest = { kind: 'bytes'; buf: Uint8Array } | { kind: 'file'; path: string; offset: number; length: number } | { kind: 'mark' } | { kind: 'end' };
type ProbeReply = { ack: true } | { curve: CostCurve } | { error: string };

export class CostProbe {
  private readonly worker: Worker;
  /** Replies come in the order requests went: one waiter per request that has a reply. */
  private readonly waiting: Array<{ resolve: (r: ProbeReply) => void; reject: (err: Error) => void }> = [];
  private failure: Error | undefined;
  /** Rejects once the probe has failed or is closed: for whoever waits on something else meanwhile. */
  readonly stopped: Promise<never>;
  private stop!: (err: Error) => void;

  /**
   * `firstStart`: no frame starts before this input offset (the plan's
   * earliest first end), so the second stream starts at the window holding
   * it; the windows before it would be compressed twice for nothing (the
   * first one always: from 0 the two streams are one).
   */
  constructor(opts: { firstStart?: number } = {}) {
    this.stopped = new Promise<never>((_resolve, reject) => (this.stop = reject));
    this.stopped.catch(() => {});
    const restartFrom = Math.floor(Math.max(0, opts.firstStart ?? 0) / RESTART_SPACING) * RESTART_SPACING;
    this.worker = startZstdWorker(probeWorkerMain, { window: RESTART_SPACING, restartFrom });
    this.worker.on('message', (reply: ProbeReply) => {
      if ('error' in reply) this.fail(new ZstdError('ZSTD_COMPRESS_FAILED', `cost probe: ${reply.error}`));
      else this.waiting.shift()?.resolve(reply);
    });
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', this.onExit);
  }

  private readonly onExit = (code: number): void => this.fail(new ZstdError('ZSTD_COMPRESS_FAILED', `cost probe: worker exited with code ${code}`));
  private closing: Promise<void> | undefined;

  /** Probes a copy of `buf`; resolves when the probe has taken it (one piece at a time: the back-pressure). */
  async bytes(buf: Uint8Array): Promise<void> {
    // A copy of its own to move to the worker (Buffer#slice would be a view, and moving it would empty the caller's).
    const copy = new Uint8Array(buf);
    await this.request({ kind: 'bytes', buf: copy }, [copy.buffer as ArrayBuffer]);
  }

  /** Probes `length` bytes of the file at `path` from `offset` (the worker reads them). */
  async file(path: string, offset: number, length: number): Promise<void> {
    await this.request({ kind: 'file', path, offset, length });
  }

  /** A Writable into `bytes`, for a stream replayed into the probe. */
  writable(): Writable {
    return new Writable({ highWaterMark: 0, write: (chunk: Buffer, _enc, cb) => this.bytes(chunk).then(() => cb(), cb) });
  }

  /** A point on the curve here (a layer boundary, where a cut is likeliest). */
  mark(): void {
    this.post({ kind: 'mark' });
  }

  /** The curve over everything probed. */
  async finish(): Promise<CostCurve> {
    const reply = await this.request({ kind: 'end' });
    return (reply as { curve: CostCurve }).curve;
  }

  /** Stops the worker; what waits on the probe fails. Once only: terminate() resolves through an 'exit' listener of its own. */
  close(): Promise<void> {
    if (!this.closing) {
      this.fail(new ZstdError('ZSTD_COMPRESS_FAILED', 'cost probe: closed'));
      this.worker.off('exit', this.onExit);
      this.closing = this.worker.terminate().then(() => {});
    }
    return this.closing;
  }

  private request(req: ProbeRequest, transfer: ArrayBuffer[] = []): Promise<ProbeReply> {
    if (this.failure) return Promise.reject(this.failure);
    const reply = new Promise<ProbeReply>((resolve, reject) => this.waiting.push({ resolve, reject }));
    this.post(req, transfer);
    return reply;
  }

  private post(req: ProbeRequest, transfer: ArrayBuffer[] = []): void {
    if (!this.failure) this.worker.postMessage(req, transfer);
  }

  /** The error the probe failed with (or 'closed'), if it has. */
  get failed(): Error | undefined {
    return this.failure;
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.stop(this.failure);
    for (const w of this.waiting.splice(0)) w.reject(this.failure);
  }
}

/** Runs in the probe's worker (started from its source text: only `require` and what it defines). */
function probeWorkerMain(require: NodeJS.Require): void {
  const { parentPort, workerData } = require('node:worker_threads') as typeof import('node:worker_threads');
  const fs = require('node:fs') as typeof import('node:fs');
  const zstd = require(workerData.bindingPath as string) as typeof import('zstd-napi/binding.js');
  // Input between two points of the curve at most: flushes cost little at level 1.
  const STEP = 4 * 1024 * 1024;
  // The bundle's window: the streams' window, and where the second one restarts.
  const WINDOW = workerData.window as number;
  // Where the second stream starts (a window boundary): no frame can start before it.
  const FROM = workerData.restartFrom as number;
  const level1 = (): InstanceType<typeof zstd.CCtx> => {
    const cctx = new zstd.CCtx();
    cctx.setParameter(zstd.CParameter.compressionLevel, 1);
    cctx.setParameter(zstd.CParameter.windowLog, Math.log2(WINDOW));
    cctx.setParameter(zstd.CParameter.enableLongDistanceMatching, 1);
    // Long matches of 256 bytes and more only (the default is 64): a file repeated within the window
    // then costs the probe next to nothing, as it costs level 16 (see the header).
    cctx.setParameter(zstd.CParameter.ldmMinMatch, 256);
    return cctx;
  };
  /** The stream of the curve, and the one that starts again every WINDOW bytes. */
  const whole = { cctx: level1(), output: 0 };
  const restarting = { cctx: level1(), output: 0 };
  const out = Buffer.allocUnsafe(1 << 20);
  const readBuf = Buffer.allocUnsafe(STEP);
  const port = parentPort!;
  let input = 0;
  const at: number[] = [0];
  const cost: number[] = [0];
  const restart = { at: [] as number[], extra: [] as number[] };
  /** Both streams' output where the restarting one last started, and that input offset. */
  let since = { whole: 0, restarting: 0 };
  let windowFrom = 0;

  const run = (stream: typeof whole, src: Uint8Array, op: number): void => {
    let rest = src;
    for (;;) {
      const [remaining, produced, consumed] = stream.cctx.compressStream2(out, rest, op);
      stream.output += produced;
      rest = rest.subarray(consumed);
      if (rest.length === 0 && (op === zstd.EndDirective.continue || remaining === 0)) return;
    }
  };
  const mark = (): void => {
    if (input === at[at.length - 1]) return;
    // Both flushed at the same points, so the two differ only by what the restart lost.
    run(whole, new Uint8Array(0), zstd.EndDirective.flush);
    if (input > FROM) run(restarting, new Uint8Array(0), zstd.EndDirective.flush);
    at.push(input);
    cost.push(whole.output);
  };
  /**
   * The window that began at the last restart ends here (whole, or the last one at the input's
   * end): what the restart cost over it. The second stream's frame ends, and the next one starts
   * with nothing behind it. The frame's end costs a few bytes (3 over a window of incompressible
   * bytes), so a window that repeats nothing comes to about 0.
   */
  const endWindow = (): void => {
    const from = windowFrom;
    if (input === from) return;
    mark();
    if (from >= FROM) {
      run(restarting, new Uint8Array(0), zstd.EndDirective.end);
      restart.at.push(from);
      restart.extra.push(Math.max(0, restarting.output - since.restarting - (whole.output - since.whole)));
    }
    since = { whole: whole.output, restarting: restarting.output };
    windowFrom = input;
  };
  const push = (src: Uint8Array): void => {
    for (let from = 0; from < src.length; ) {
      const n = Math.min(src.length - from, STEP - (input - at[at.length - 1]!), WINDOW - (input % WINDOW));
      run(whole, src.subarray(from, from + n), zstd.EndDirective.continue);
      if (input >= FROM) run(restarting, src.subarray(from, from + n), zstd.EndDirective.continue);
      input += n;
      from += n;
      if (input % WINDOW === 0) endWindow();
      else if (input - at[at.length - 1]! >= STEP) mark();
    }
  };
  const readFile = (path: string, offset: number, length: number): void => {
    const fd = fs.openSync(path, 'r');
    try {
      for (let done = 0; done < length; ) {
        const n = fs.readSync(fd, readBuf, 0, Math.min(STEP, length - done), offset + done);
        if (n === 0) throw new Error(`${path}: expected ${length} bytes from offset ${offset}, file ends after ${done}`);
        push(readBuf.subarray(0, n));
        done += n;
      }
    } finally {
      fs.closeSync(fd);
    }
  };
  port.on('message', (req: ProbeRequest) => {
    try {
      if (req.kind === 'bytes') push(req.buf);
      else if (req.kind === 'file') readFile(req.path, req.offset, req.length);
      else mark();
      if (req.kind === 'end') {
        endWindow();
        port.postMessage({ curve: { at, cost, restart } });
      } else if (req.kind !== 'mark') port.postMessage({ ack: true });
    } catch (err) {
      port.postMessage({ error: err instanceof Error ? err.message : String(err) });
    }
  });
}
