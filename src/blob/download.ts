/**
 * Download one blob to a file, verifying it, resuming broken transfers.
 *
 * A blob can come from several sources: the registry, and for foreign
 * (non-distributable) Windows layers the URLs in the descriptor. Sources are
 * tried in order; a source that says "not here" (404, 401, 403) passes to the
 * next. When a transfer breaks mid-body, the same source is asked again with
 * `Range: bytes=<received>-`; a 206 continues the file and the running hash,
 * a 200 starts over. Size and digest are checked at EOF.
 */
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { AirpackError, isAirpackError, toAirpackError } from '../errors.js';
import type { Descriptor } from '../spec/types.js';
import { fileSink, type BlobSink } from './sink.js';
import { checkDigest, DigestCounter } from './verify.js';

export interface BlobSource {
  /** For messages: `registry 127.0.0.1:5000`, `https://host/path`. */
  readonly name: string;
  /** A file on this machine (an archive): reading it may pause without a timeout. */
  readonly local?: boolean;
  /** Open the blob from `offset`; `resumed` says whether the server honoured the offset. */
  open(offset: number): Promise<{ body: Readable; resumed: boolean }>;
}

export interface DownloadOptions {
  /** Called with each chunk's length, for progress. Negative when bytes are discarded on restart. */
  onBytes?: (n: number) => void;
  /** How many times one source may be resumed after a broken transfer. */
  resumeAttempts?: number;
  /** For messages: what this blob is (`layer sha256:… of docker.io/x:1`). */
  what?: string;
  /** Where the bytes go (default: the file itself, as downloaded). */
  sink?: (file: string) => BlobSink;
}

/** Errors after which another source may still have the blob. */
function isNotHere(err: unknown): boolean {
  return isAirpackError(err, 'NOT_FOUND') || isAirpackError(err, 'UNAUTHORIZED') || isAirpackError(err, 'DENIED') || isAirpackError(err, 'REGISTRY_ERROR') || isAirpackError(err, 'NETWORK_ERROR');
}

export async function downloadBlob(sources: readonly BlobSource[], desc: Descriptor, file: string, options: DownloadOptions = {}): Promise<void> {
  const what = options.what ?? `blob ${desc.digest}`;
  const failures: string[] = [];
  let reachable = false;
  for (const source of sources) {
    try {
      await downloadFrom(source, desc, file, what, options);
      return;
    } catch (err) {
      if (!isNotHere(err)) throw err;
      if (!isAirpackError(err, 'NETWORK_ERROR')) reachable = true;
      failures.push(`${source.name}: ${(err as Error).message}`);
    }
  }
  // Every source out of reach (reset, stalled, refused) is the network's failure, exit 5; a source that answered "not here" makes it the registry's.
  throw new AirpackError(reachable ? 'NOT_FOUND' : 'NETWORK_ERROR', `${what}: could not be fetched from any source (${failures.join('; ')})`);
}

async function downloadFrom(source: BlobSource, desc: Descriptor, file: string, what: string, options: DownloadOptions): Promise<void> {
  const counter = new DigestCounter();
  const maxResumes = options.resumeAttempts ?? 5;
  const sink = (options.sink ?? fileSink)(file);
  let lastError: unknown;
  try {
    for (let attempt = 0; attempt <= maxResumes; attempt++) {
      if (attempt > 0) await sleep(Math.min(200 * 2 ** (attempt - 1), 5000));
      const offset = counter.bytes;
      const { body, resumed } = await source.open(offset);
      if (offset > 0 && !resumed) {
        // The server ignored our Range: start the sink and the hash over.
        options.onBytes?.(-offset);
        counter.reset();
        await sink.restart();
      }
      try {
        await copyCounting(body, sink, counter, desc, what, options.onBytes, file);
      } catch (err) {
        body.destroy();
        if (isAirpackError(err)) throw err; // size wrong or bytes undecodable: resuming cannot fix that
        lastError = err;
        continue;
      }
      // The compressed digest first: a wrong blob should be named as such, not as a bad diff_id.
      checkDigest(`${what} from ${source.name}`, desc, { digest: counter.digest(), size: counter.bytes });
      await sink.finish();
      return;
    }
  } catch (err) {
    await sink.abort();
    throw err;
  }
  await sink.abort();
  throw new AirpackError('NETWORK_ERROR', `${what} from ${source.name}: transfer broke ${maxResumes + 1} times, last at byte ${counter.bytes} of ${desc.size} (${(lastError as Error)?.message})`, { cause: lastError });
}

async function copyCounting(body: Readable, sink: BlobSink, counter: DigestCounter, desc: Descriptor, what: string, onBytes: ((n: number) => void) | undefined, file: string): Promise<void> {
  for await (const chunk of body as AsyncIterable<Buffer>) {
    counter.update(chunk);
    if (desc.size >= 0 && counter.bytes > desc.size) {
      throw new AirpackError('SIZE_MISMATCH', `${what}: more than the ${desc.size} bytes its descriptor promises`);
    }
    onBytes?.(chunk.length);
    // The disk failing (full) is no broken transfer to resume: it is this machine's, exit 5, at once.
    await sink.write(chunk).catch((err: unknown) => {
      if (isAirpackError(err)) throw err;
      const translated = toAirpackError(err, file);
      throw translated instanceof AirpackError ? translated : new AirpackError('IO_ERROR', `${file}: ${(err as Error).message}`, { cause: err });
    });
  }
  // A body that ends early without an error is a short read: treat it as a broken transfer so we resume.
  if (desc.size >= 0 && counter.bytes < desc.size) throw new Error(`connection closed at byte ${counter.bytes} of ${desc.size}`);
}
