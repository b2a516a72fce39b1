/**
 * Where a rewritten tar goes: a file (written positionally, small writes
 * gathered into large ones) or any Writable (with back-pressure). Both take
 * whole byte ranges of another file so copies stay large and sequential.
 */
import { removeOnInterrupt } from './cleanup.js';
import { randomBytes } from 'node:crypto';
import { type FileHandle, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { copyRange, readExactly, writeExactly } from './file-copy.js';
import { handleWritable } from './handle-writable.js';

export interface OutputSink {
  /** Bytes written so far. */
  readonly position: number;
  write(buf: Buffer): Promise<void>;
  /** Appends `length` bytes of `src` starting at `start`. */
  copyFrom(src: FileHandle, start: number, length: number): Promise<void>;
  /** Pushes out anything gathered; the sink stays usable. */
  flush(): Promise<void>;
}

const GATHER_SIZE = 4 * 1024 * 1024;

/** Appends to an open file handle, starting at offset 0. */
export class FileSink implements OutputSink {
  private pos = 0;
  private staged: Buffer = Buffer.allocUnsafe(GATHER_SIZE);
  private spare: Buffer = Buffer.allocUnsafe(GATHER_SIZE);
  private stagedLen = 0;
  private inflight: Promise<void> | undefined;

  constructor(readonly fh: FileHandle) {}

  get position(): number {
    return this.pos + this.stagedLen;
  }

  async write(buf: Buffer): Promise<void> {
    if (buf.length >= GATHER_SIZE) {
      await this.flush();
      await writeExactly(this.fh, buf, buf.length, this.pos);
      this.pos += buf.length;
      return;
    }
    if (this.stagedLen + buf.length > GATHER_SIZE) await this.startFlush();
    buf.copy(this.staged, this.stagedLen);
    this.stagedLen += buf.length;
  }

  async copyFrom(src: FileHandle, start: number, length: number): Promise<void> {
    await this.flush();
    await copyRange(src, start, length, this.fh, this.pos);
    this.pos += length;
  }

  async flush(): Promise<void> {
    await this.startFlush();
    await this.settle();
  }

  /** Waits for the write in flight, if any. */
  async settle(): Promise<void> {
    const p = this.inflight;
    this.inflight = undefined;
    if (p) await p;
  }

  // One write in flight while the next buffer fills: swap buffers, then write the full one.
  private async startFlush(): Promise<void> {
    await this.settle();
    if (this.stagedLen === 0) return;
    const full = this.staged;
    const len = this.stagedLen;
    const at = this.pos;
    this.staged = this.spare;
    this.spare = full;
    this.stagedLen = 0;
    this.pos += len;
    const p = writeExactly(this.fh, full, len, at);
    // Attach a handler now so a failure before settle() is not reported as unhandled.
    p.catch(() => {});
    this.inflight = p;
  }
}

/** Appends to a Writable, honouring back-pressure. Does not end it. */
export class StreamSink implements OutputSink {
  private pos = 0;
  private failed: Error | undefined;

  constructor(private readonly out: Writable) {
    // An error between our writes must fail the next write, not crash the process.
    out.on('error', (err: Error) => {
      this.failed ??= err;
    });
  }

  get position(): number {
    return this.pos;
  }

  async write(buf: Buffer): Promise<void> {
    if (this.failed) throw this.failed;
    this.pos += buf.length;
    if (!this.out.write(buf)) await waitDrain(this.out);
  }

  async copyFrom(src: FileHandle, start: number, length: number): Promise<void> {
    const size = Math.min(GATHER_SIZE, Math.max(length, 1));
    for (let off = 0; off < length; off += size) {
      const n = Math.min(size, length - off);
      // A fresh buffer per chunk: the Writable may hold on to what it was given.
      const buf = Buffer.allocUnsafe(n);
      await readExactly(src, buf, n, start + off);
      await this.write(buf);
    }
  }

  async flush(): Promise<void> {}
}

/** Waits for 'drain'; rejects when the stream fails or closes first. */
export function waitDrain(out: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      out.off('drain', onDrain);
      out.off('error', onError);
      out.off('close', onClose);
    };
    const onDrain = (): void => {
      cleanup();
      resolve();
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error('output stream closed before all data was written'));
    };
    out.on('drain', onDrain);
    out.on('error', onError);
    out.on('close', onClose);
  });
}

/**
 * Ends a Writable and waits until it has flushed everything; rejects with
 * its error, the last write's too. end()'s callback gets that error before
 * 'error' is emitted: a callback that ignored it took a bundle whose seek
 * table never reached a full disk for complete.
 */
export function endWritable(out: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    // Failed before (its error event is gone): end() would never call back.
    if (out.errored) return reject(out.errored);
    if (out.writableFinished) return resolve();
    out.once('error', reject);
    out.end((err?: Error | null) => {
      out.off('error', reject);
      if (err) reject(err);
      else resolve();
    });
  });
}

/**
 * A temp file next to `target` (same directory, so the final rename is
 * atomic). `commit()` renames it into place; `discard()` removes it.
 */
export class TempFile {
  private done = false;
  private constructor(
    readonly path: string,
    readonly target: string | undefined,
    readonly fh: FileHandle,
    private readonly forget: () => void,
  ) {}

  /** Creates a temp file beside `target`, or in `dir` for scratch data. */
  static async create(opts: { target: string } | { dir: string; prefix: string }): Promise<TempFile> {
    const suffix = `${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    const path =
      'target' in opts
        ? join(dirname(opts.target), `.${basename(opts.target)}.${suffix}`)
        : join(opts.dir, `${opts.prefix}.${suffix}`);
    // Registered before it exists, so a signal between open() and here leaves nothing behind.
    const forget = removeOnInterrupt(path);
    let fh: FileHandle;
    try {
      fh = await open(path, 'wx+');
    } catch (err) {
      forget();
      throw err;
    }
    return new TempFile(path, 'target' in opts ? opts.target : undefined, fh, forget);
  }

  async commit(): Promise<void> {
    if (!this.target) throw new Error(`TempFile.commit: ${this.path} has no target`);
    await this.fh.close();
    await rename(this.path, this.target);
    this.done = true;
    this.forget();
  }

  /** Closes and removes the file; safe to call more than once and after errors. */
  async discard(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.fh.close().catch(() => {});
    await unlink(this.path).catch(() => {});
    this.forget();
  }
}

/**
 * Appends to a file in the background: `write` copies the bytes (callers may
 * pass views they are about to reuse) and queues them, in order, so the
 * caller goes on decoding and hashing while the disk works. The promise
 * `write` returns settles at once unless more than `maxQueued` bytes wait:
 * that is the back-pressure. A failed write fails every later call.
 */
export class QueuedFileWriter {
  private pos = 0;
  private queued = 0;
  private chain: Promise<void> = Promise.resolve();
  private readonly inFlight: Array<Promise<void>> = [];
  /** Copy buffers of GATHER_SIZE, reused: fresh 4 MiB allocations cost page faults and GC. */
  private readonly spare: Buffer[] = [];
  private failed: unknown;

  constructor(
    private readonly fh: FileHandle,
    private readonly maxQueued = 16 * 1024 * 1024,
  ) {}

  get position(): number {
    return this.pos;
  }

  async write(buf: Buffer): Promise<void> {
    if (this.failed !== undefined) throw this.failed;
    if (buf.length === 0) return;
    const pooled = buf.length <= GATHER_SIZE;
    const copy = pooled ? (this.spare.pop() ?? Buffer.allocUnsafeSlow(GATHER_SIZE)) : Buffer.allocUnsafe(buf.length);
    buf.copy(copy);
    const size = buf.length;
    const at = this.pos;
    this.pos += size;
    this.queued += size;
    this.chain = this.chain
      .then(() => writeExactly(this.fh, copy, size, at))
      .then(
        () => {
          this.queued -= size;
          if (pooled) this.spare.push(copy);
        },
        (err: unknown) => {
          this.failed ??= err;
        },
      );
    this.inFlight.push(this.chain);
    while (this.queued > this.maxQueued && this.inFlight.length > 0) await this.inFlight.shift();
    if (this.failed !== undefined) throw this.failed;
  }

  /** Waits for every queued write; throws the first failure. */
  async finish(): Promise<void> {
    await this.chain;
    this.inFlight.length = 0;
    if (this.failed !== undefined) throw this.failed;
  }
}

/**
 * Runs `write` into a Writable on a temp file beside `target`, renamed into
 * place when `write` succeeds (it must end the stream) and removed when it
 * fails, after every pending write has settled.
 */
export async function writeViaTempFile<T>(target: string, write: (out: Writable) => Promise<T>): Promise<T> {
  const tmp = await TempFile.create({ target });
  // Never closes the handle: the temp file's own close is the only one (handle-writable.ts says why).
  const out = handleWritable(tmp.fh);
  try {
    const result = await write(out);
    await tmp.commit();
    return result;
  } catch (err) {
    await new Promise<void>((resolve) => {
      out.on('error', () => {});
      if (out.closed || out.destroyed) resolve();
      else {
        out.once('close', () => resolve());
        out.destroy();
      }
    });
    await tmp.discard();
    throw err;
  }
}
