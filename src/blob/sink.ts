/**
 * Where downloaded bytes go. `fileSink` writes them as they come;
 * `decompressingSink` writes the layer's uncompressed tar instead (gzip or
 * zstd, recognised by magic bytes), hashing it on the way so the diff_id can
 * be checked, so a compressed layer never touches the disk in
 * `--layers uncompressed` mode. A broken transfer resumed with a Range
 * request keeps feeding the same sink; one that restarts calls `restart()`.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AirpackError, isAirpackError, toAirpackError } from '../errors.js';
import { endWritable, waitDrain } from '../io/output-sink.js';
import { decompressor, layerCompression } from './decompress.js';
import { checkDigest, CountingStream, DigestCounter } from './verify.js';

export interface BlobSink {
  write(chunk: Buffer): Promise<void>;
  /** Throw away everything written and start again. */
  restart(): Promise<void>;
  /** Flush and close; checks what the sink itself can check (the diff_id). */
  finish(): Promise<void>;
  /** Stop after an error; leaves cleanup of the file to the caller. */
  abort(): Promise<void>;
}

function writeWithBackpressure(out: Writable, chunk: Buffer): Promise<void> {
  // A stream that already failed (a full disk, seen after an earlier write returned) says so now.
  if (out.errored) return Promise.reject(out.errored);
  return out.write(chunk) ? Promise.resolve() : waitDrain(out);
}

/** Compressed bytes handed to the decompressor at once. */
const BATCH = 256 * 1024;

export function fileSink(path: string): BlobSink {
  let out: WriteStream = createWriteStream(path, { flags: 'w' });
  return {
    write: (chunk) => writeWithBackpressure(out, chunk),
    async restart() {
      await endWritable(out).catch(() => undefined);
      out = createWriteStream(path, { flags: 'w' });
    },
    finish: () => endWritable(out),
    async abort() {
      // A stream that already closed (failed on a full disk) emits no second 'close' to wait for.
      if (out.closed) return;
      out.destroy();
      await once(out, 'close').catch(() => undefined);
    },
  };
}

/**
 * Decompress into `path` while downloading, and check the result against
 * `diffId` at the end. `what` names the layer in errors.
 */
export function decompressingSink(path: string, diffId: string, what: string, blobDigest?: string): BlobSink {
  return decompressingSinkTo(() => createWriteStream(path, { flags: 'w', highWaterMark: 1024 * 1024 }), diffId, what, { blobDigest });
}

export interface DecompressingOptions {
  /**
   * The uncompressed layer must be exactly this long: a byte more fails at
   * once (it would overwrite what follows it), fewer fail at the end.
   */
  exactSize?: number | undefined;
  /**
   * The digest the download itself checks. A layer stored uncompressed
   * (digest = diff_id) is then not hashed a second time here: at ~1 GB/s
   * per core, the second sha256 was half of re-bundling's main thread.
   */
  blobDigest?: string | undefined;
}

/** Marks the error of a decompressed size other than `exactSize`: a size prediction that did not hold. */
const UNCOMPRESSED_SIZE = Symbol('uncompressed size other than expected');

/** True for the error decompressingSinkTo raises when the plain bytes are not `exactSize` long. */
export function isUncompressedSizeMismatch(err: unknown): boolean {
  return isAirpackError(err, 'SIZE_MISMATCH') && (err as unknown as Record<symbol, unknown>)[UNCOMPRESSED_SIZE] === true;
}

function uncompressedSizeMismatch(message: string, cause: unknown): AirpackError {
  const err = new AirpackError('SIZE_MISMATCH', message, { cause });
  Object.defineProperty(err, UNCOMPRESSED_SIZE, { value: true });
  return err;
}

/**
 * `decompressingSink` into any Writable that `open` makes (anew on restart),
 * e.g. a positional stream into a shared output file.
 */
export function decompressingSinkTo(open: () => Writable, diffId: string, what: string, options: DecompressingOptions = {}): BlobSink {
  const { exactSize } = options;
  let counter = new DigestCounter();
  let hashed = true;
  let input: Transform | undefined;
  let done: Promise<void> | undefined;
  let head: Buffer[] = [];
  let headBytes = 0;
  // Network reads gathered into batches: one inflate job per 64 KiB read kept the threads waiting on each other.
  let pending: Buffer[] = [];
  let pendingBytes = 0;

  // The compression is known once the first 4 bytes are in; then the pipeline starts.
  const start = (first: Buffer): Promise<void> => {
    const kind = layerCompression(first);
    // Plain bytes under their own digest: the download's check is the diff_id check.
    hashed = !(kind === 'none' && options.blobDigest === diffId);
    counter = new DigestCounter(hashed);
    const counting = new CountingStream(counter, exactSize);
    const stages = [decompressor(kind), counting].filter((s): s is Transform => s !== undefined);
    input = stages[0] as Transform;
    done = pipeline([...stages, open()]).catch((err: unknown) => {
      if (isAirpackError(err, 'SIZE_MISMATCH')) throw uncompressedSizeMismatch(`${what} (uncompressed): ${err.message}`, err);
      // The output failing (a full disk) is the output's trouble, exit 5, not the layer's.
      if (/^E[A-Z]+$/.test(String((err as NodeJS.ErrnoException).code ?? ''))) throw toAirpackError(err, what);
      throw new AirpackError('DIGEST_MISMATCH', `${what}: cannot be decompressed (${(err as Error).message})`, { cause: err });
    });
    done.catch(() => undefined);
    return writeWithBackpressure(input, first);
  };

  const reset = (): void => {
    pending = [];
    pendingBytes = 0;
    counter = new DigestCounter();
    input = undefined;
    done = undefined;
    head = [];
    headBytes = 0;
  };

  return {
    async write(chunk) {
      if (input) {
        pending.push(chunk);
        pendingBytes += chunk.length;
        if (pendingBytes < BATCH) return;
        const batch = pending.length === 1 ? (pending[0] as Buffer) : Buffer.concat(pending, pendingBytes);
        pending = [];
        pendingBytes = 0;
        return Promise.race([writeWithBackpressure(input, batch), done as Promise<never>]);
      }
      head.push(chunk);
      headBytes += chunk.length;
      if (headBytes >= 4) await start(Buffer.concat(head));
    },
    async restart() {
      input?.destroy();
      await done?.catch(() => undefined);
      reset();
    },
    async finish() {
      if (!input) await start(Buffer.concat(head));
      if (pendingBytes > 0) await Promise.race([writeWithBackpressure(input as Transform, Buffer.concat(pending, pendingBytes)), done as Promise<never>]);
      pending = [];
      pendingBytes = 0;
      (input as Transform).end();
      await done;
      if (exactSize !== undefined && counter.bytes !== exactSize) throw uncompressedSizeMismatch(`${what} (uncompressed): size ${counter.bytes} bytes [expected ${exactSize}]`, undefined);
      if (hashed) checkDigest(`${what} (uncompressed)`, { digest: diffId }, { digest: counter.digest(), size: counter.bytes });
    },
    async abort() {
      input?.destroy();
      await done?.catch(() => undefined);
    },
  };
}

/**
 * The sink the other way round: the plain bytes are compressed by
 * `compressor()` into `path`, and the compressed blob's digest and size are
 * known once `finish()` has run (`result()`). Used where layers stored
 * uncompressed go into a registry compressed (push/layer-compression.ts).
 */
export function compressingSink(path: string, compressor: () => Transform): BlobSink & { result(): { digest: string; size: number } } {
  let counter = new DigestCounter();
  let input: Transform | undefined;
  let file: WriteStream | undefined;
  let done: Promise<void> | undefined;
  let finished: { digest: string; size: number } | undefined;
  const start = (): Transform => {
    counter = new DigestCounter();
    const head = compressor();
    file = createWriteStream(path, { flags: 'w', highWaterMark: 1024 * 1024 });
    done = pipeline([head, new CountingStream(counter), file]).catch((err: unknown) => {
      throw toAirpackError(err, path);
    });
    done.catch(() => undefined);
    return (input = head);
  };
  const stop = async (): Promise<void> => {
    input?.destroy();
    await done?.catch(() => undefined);
    // Closed before a restart truncates the file: a late write of the old stream would land in the new one.
    if (file && !file.closed) await once(file, 'close').catch(() => undefined);
    file = undefined;
    input = undefined;
    done = undefined;
  };
  return {
    write: (chunk) => Promise.race([writeWithBackpressure(input ?? start(), chunk), done as Promise<never>]),
    restart: stop,
    async finish() {
      (input ?? start()).end();
      await done;
      finished = { digest: counter.digest(), size: counter.bytes };
    },
    abort: stop,
    result() {
      if (!finished) throw new Error('compressingSink: result() before finish()');
      return finished;
    },
  };
}
