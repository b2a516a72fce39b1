/**
 * The registry as a sink: puts blobs and manifests into an OCI distribution
 * registry, in the order that keeps every reference resolvable while it
 * goes up: blobs first, then the manifests an index names (by digest), then
 * the index or manifest itself by digest, and the tag last.
 *
 * Blobs (distribution spec, "push"):
 * - HEAD first; a blob the registry has (with the right size) is skipped;
 * - a blob this run already put into another repository of the same
 *   registry is mounted (`POST ...?mount=<digest>&from=<repo>`: 201 means
 *   mounted, 202 means the registry declined and opened an upload instead);
 * - small blobs go up in one PUT; bigger ones stream in one PATCH (a
 *   broken one goes on from the registry's `Range`), each response's
 *   `Location` used exactly as given (relative or absolute, query kept),
 *   then a closing `PUT ?digest=`;
 * - every byte read is hashed on the way: a source whose bytes are not
 *   their digest fails before the upload is closed, naming the digest.
 *
 * Manifests are PUT with `Content-Type` equal to their media type, and the
 * registry's `Docker-Content-Digest` must be ours. Children are always PUT,
 * even when a HEAD would say they exist: a half-finished earlier push must
 * heal by being run again (oras-go #1211).
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BlobSource } from '../blob/download.js';
import { AirpackError, isAirpackError } from '../errors.js';
import { firstHeader, type FetchedManifest, type RegistryClient } from '../registry/client.js';
import { isRetryableStatus, readBody } from '../registry/http.js';
import type { Descriptor } from '../spec/types.js';

/**
 * Upload requests that carry bytes (PATCH, the closing PUT) change state on the registry: a
 * retried PATCH may apply twice. They are sent once; after a failed one the upload's status
 * says what the registry has (see `upload`). A POST that starts an upload is retried on a 5xx
 * or a broken connection like any request: at worst it leaves an orphan upload session, which
 * registries purge (distribution after 7 days), while a push that stops at one 503 heals nothing.
 */
const ONCE = { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 };

/** Blobs up to this size go up in one PUT (held in memory while sent); bigger ones stream in a PATCH. */
export const MONOLITHIC_MAX = 8 * 1024 * 1024;

/**
 * A bigger blob goes up in streamed PATCHes of this size. Each answer is a
 * point a broken upload goes on from (docker-registry forgets an upload
 * whose PATCH broke half way, but not the ones it answered); between them
 * the bytes flow without a pause. Measured against 8 MiB chunks held in
 * memory and sent one by one: see scripts/bench-push.ts.
 */
export const PATCH_SEGMENT = 64 * 1024 * 1024;

export type BlobOutcome = 'present' | 'mounted' | 'uploaded';

export interface RegistryWriterOptions {
  /** Bytes uploaded, for progress. */
  onBytes?: (n: number) => void;
  /** A broken upload goes on from `offset` (for tests and logs). */
  onResume?: (digest: string, offset: number) => void;
  /** Default MONOLITHIC_MAX. */
  monolithicMax?: number;
  /** Default PATCH_SEGMENT. */
  segmentSize?: number;
}

/** How often one blob's upload may go on after a broken PATCH. */
const MAX_UPLOAD_RESUMES = 5;

/** A PATCH failure that asking the registry where the upload stands can get past (a cut connection, a 5xx, an expired token). */
const RESUMABLE = Symbol('resumable upload failure');

function resumable(err: unknown): Error {
  const e = err instanceof Error ? err : new Error(String(err));
  Object.defineProperty(e, RESUMABLE, { value: true });
  return e;
}

function isResumable(err: unknown): boolean {
  return err instanceof Error && (err as unknown as Record<symbol, unknown>)[RESUMABLE] === true && !isAirpackError(err, 'DIGEST_MISMATCH');
}

/** Where in this run each blob already went, for cross-repository mounts. */
export type MountSources = Map<string, string>;

export class RegistryWriter {
  private readonly monolithicMax: number;
  private readonly segmentSize: number;

  constructor(
    readonly client: RegistryClient,
    private readonly mounts: MountSources = new Map(),
    private readonly options: RegistryWriterOptions = {},
  ) {
    this.monolithicMax = options.monolithicMax ?? MONOLITHIC_MAX;
    this.segmentSize = options.segmentSize ?? PATCH_SEGMENT;
  }

  /** Makes sure `desc` is in `repository`, reading it from `sources` only when it must go up. */
  async putBlob(repository: string, desc: Descriptor, sources: readonly BlobSource[]): Promise<BlobOutcome> {
    const what = `blob ${desc.digest} into ${this.client.registry}/${repository}`;
    if (await this.isPresent(repository, desc)) {
      this.mounts.set(desc.digest, repository);
      return 'present';
    }
    let location: string;
    const from = this.mounts.get(desc.digest);
    if (from && from !== repository) {
      const res = await this.client.request(repository, 'pull,push', { method: 'POST', path: `/v2/${repository}/blobs/uploads/?mount=${encodeURIComponent(desc.digest)}&from=${encodeURIComponent(from)}`, body: '' });
      res.body.resume();
      if (res.status === 201) {
        this.mounts.set(desc.digest, repository);
        return 'mounted';
      }
      location = await this.uploadLocation(res, what);
    } else {
      const res = await this.client.request(repository, 'pull,push', { method: 'POST', path: `/v2/${repository}/blobs/uploads/`, body: '' });
      location = await this.uploadLocation(res, what);
    }
    await this.upload(repository, desc, sources, location, what);
    this.mounts.set(desc.digest, repository);
    return 'uploaded';
  }

  /** Whether the registry holds `desc` in `repository` (HEAD, its length checked). */
  private async isPresent(repository: string, desc: Descriptor): Promise<boolean> {
    const head = await this.client.request(repository, 'pull,push', { method: 'HEAD', path: `/v2/${repository}/blobs/${desc.digest}` });
    head.body.resume();
    return head.status === 200 && Number(firstHeader(head.headers['content-length']) ?? desc.size) === desc.size;
  }

  /** PUTs a manifest or index under `reference` (its digest or a tag) and checks the digest the registry computed. */
  async putManifest(repository: string, reference: string, manifest: FetchedManifest): Promise<void> {
    const what = `manifest ${manifest.digest} as ${this.client.registry}/${repository}:${reference}`.replace(/:sha256:/, '@sha256:');
    const res = await this.client.request(repository, 'pull,push', {
      method: 'PUT',
      path: `/v2/${repository}/manifests/${reference}`,
      headers: { 'content-type': manifest.mediaType },
      body: manifest.bytes,
    });
    if (res.status !== 201 && res.status !== 200) throw await this.client.errorFor(res, what);
    res.body.resume();
    const digest = firstHeader(res.headers['docker-content-digest']);
    if (digest && digest !== manifest.digest) throw new AirpackError('DIGEST_MISMATCH', `${what}: the registry stored it as ${digest} [expected ${manifest.digest}]`);
  }

  private async uploadLocation(res: Awaited<ReturnType<RegistryClient['request']>>, what: string): Promise<string> {
    if (res.status !== 202) throw await this.client.errorFor(res, `${what}: starting the upload`);
    res.body.resume();
    const location = firstHeader(res.headers.location);
    if (!location) throw new AirpackError('REGISTRY_ERROR', `${what}: the registry started an upload without a Location header`);
    return new URL(location, res.url).href;
  }

  /**
   * The blob's bytes into the upload at `location`: one PUT when small; when
   * big, PATCH segments whose bodies stream from the source (as curl or
   * skopeo send it: no pause per 8 MiB for the registry's answer, nothing
   * held in memory). A PATCH that breaks (connection cut, 5xx, 401) is not sent
   * again blindly: the upload's status (`GET`, its `Range`) says how much
   * the registry kept, and a new PATCH goes on from there. An upload the
   * registry no longer knows, or that holds more than the blob, starts over.
   * The registry checks the whole blob against its digest when the upload
   * is closed. A small blob's one PUT that breaks is sent again the same
   * way (into the upload, or a new one when the registry forgot it).
   */
  private async upload(repository: string, desc: Descriptor, sources: readonly BlobSource[], location: string, what: string): Promise<void> {
    const source = sources[0];
    if (!source) throw new AirpackError('NOT_FOUND', `${what}: no source holds its bytes`);
    let at = { bytes: 0, location };
    // Progress counts each byte once, also when a resumed PATCH sends part of it again.
    let reported = 0;
    const progress = (upTo: number): void => {
      if (upTo > reported) this.options.onBytes?.(upTo - reported);
      reported = Math.max(reported, upTo);
    };
    for (let attempt = 0; ; attempt++) {
      try {
        await this.sendFrom(repository, desc, source, at, what, progress, (acked) => (at = acked));
        return;
      } catch (err) {
        if (!isResumable(err) || attempt >= MAX_UPLOAD_RESUMES) throw err;
        await sleep(Math.min(250 * 2 ** attempt, 4000));
        // Closed after all (an answer lost on the way back): nothing left to send.
        if (await this.isPresent(repository, desc)) return progress(desc.size);
        const held = await this.uploadStatus(repository, at.location, what);
        if (held === undefined || held.bytes > desc.size || held.ambiguous) {
          // Gone, holding more than the blob, or saying `0-0` (no byte or one byte): a new upload from the first byte.
          const res = await this.client.request(repository, 'pull,push', { method: 'POST', path: `/v2/${repository}/blobs/uploads/`, body: '' });
          at = { bytes: 0, location: await this.uploadLocation(res, what) };
        } else if (held.bytes < at.bytes) {
          throw new AirpackError('REGISTRY_ERROR', `${what}: the registry holds ${held.bytes} bytes of the upload after acknowledging ${at.bytes}`);
        } else {
          at = held;
        }
        this.options.onResume?.(desc.digest, at.bytes);
      }
    }
  }

  /**
   * Reads the whole blob from the source, hashing every byte, and sends the
   * bytes from `from.bytes` on (the registry holds those before), then
   * closes the upload with its digest.
   */
  private async sendFrom(
    repository: string,
    desc: Descriptor,
    source: BlobSource,
    from: { bytes: number; location: string },
    what: string,
    progress: (upTo: number) => void,
    onAck: (acked: { bytes: number; location: string }) => void,
  ): Promise<void> {
    const opened = await source.open(0);
    try {
      await this.sendOpened(repository, desc, source, opened, from, what, progress, onAck);
    } finally {
      // Also when the first request failed before the body was read.
      opened.body.destroy();
    }
  }

  private async sendOpened(
    repository: string,
    desc: Descriptor,
    source: BlobSource,
    opened: Awaited<ReturnType<BlobSource['open']>>,
    from: { bytes: number; location: string },
    what: string,
    progress: (upTo: number) => void,
    onAck: (acked: { bytes: number; location: string }) => void,
  ): Promise<void> {
    const hash = createHash('sha256');
    let read = 0;
    // A fault of the source (more bytes than the descriptor says) is the answer, not a broken transfer.
    let sourceFault: unknown;
    const rest = async function* (): AsyncGenerator<Buffer> {
      try {
        for await (const piece of opened.body as AsyncIterable<Buffer>) {
          const start = read;
          read += piece.length;
          if (read > desc.size) throw new AirpackError('SIZE_MISMATCH', `${what}: ${source.name} gave more than the ${desc.size} bytes its descriptor says`);
          hash.update(piece);
          if (read <= from.bytes) continue;
          yield start < from.bytes ? piece.subarray(from.bytes - start) : piece;
          progress(read);
        }
      } catch (err) {
        sourceFault = err;
        throw err;
      } finally {
        opened.body.destroy();
      }
    };
    const check = (): void => {
      if (sourceFault) throw sourceFault;
      const got = `sha256:${hash.digest('hex')}`;
      if (read !== desc.size) throw new AirpackError('SIZE_MISMATCH', `${what}: ${source.name} gave ${read} bytes [expected ${desc.size}]`);
      if (got !== desc.digest) throw new AirpackError('DIGEST_MISMATCH', `${what}: ${source.name} gave bytes with digest ${got} [expected ${desc.digest}]`);
    };
    const close = (url: string): string => `${url}${url.includes('?') ? '&' : '?'}digest=${encodeURIComponent(desc.digest)}`;
    let location = from.location;
    let body: Buffer[] | '' = '';
    if (desc.size <= this.monolithicMax) {
      body = [];
      for await (const piece of rest()) body.push(piece);
      check();
    } else if (from.bytes < desc.size) {
      // PATCH segments, each streamed: the registry's answer to one is where a broken next one goes on from.
      const pieces = rest()[Symbol.asyncIterator]();
      let carry: Buffer | undefined;
      const take = async function* (n: number): AsyncGenerator<Buffer> {
        for (let left = n; left > 0; ) {
          let piece = carry;
          carry = undefined;
          if (!piece) {
            const next = await pieces.next();
            if (next.done) throw (sourceFault = new AirpackError('SIZE_MISMATCH', `${what}: ${source.name} gave ${read} bytes [expected ${desc.size}]`));
            piece = next.value;
          }
          if (piece.length > left) {
            carry = piece.subarray(left);
            piece = piece.subarray(0, left);
          }
          left -= piece.length;
          yield piece;
        }
      };
      try {
        for (let at = from.bytes; at < desc.size; ) {
          const n = Math.min(this.segmentSize, desc.size - at);
          // The first bytes in hand before the request opens: a source that waits (for a bundle reader,
          // or re-reads the part the registry holds after a resume) must not hold an open request idle.
          if (!carry) {
            const first = await pieces.next();
            if (first.done) throw (sourceFault = new AirpackError('SIZE_MISMATCH', `${what}: ${source.name} gave ${read} bytes [expected ${desc.size}]`));
            carry = first.value;
          }
          let res;
          try {
            res = await this.client.request(repository, 'pull,push', {
              retry: ONCE,
              method: 'PATCH',
              path: location,
              headers: { 'content-type': 'application/octet-stream', 'content-range': `${at}-${at + n - 1}` },
              body: Readable.from(take(n), { objectMode: false, highWaterMark: 1 }),
              bodyLength: n,
            });
          } catch (err) {
            if (sourceFault) throw sourceFault;
            throw resumable(err);
          }
          if (res.status !== 202) {
            const err = await this.client.errorFor(res, `${what}: PATCH from byte ${at}`);
            throw isRetryableStatus(res.status) || res.status === 401 ? resumable(err) : err;
          }
          res.body.resume();
          // The newest Location, exactly as given: registries put their upload state in it.
          const next = firstHeader(res.headers.location);
          if (next) location = new URL(next, res.url).href;
          at += n;
          onAck({ bytes: at, location });
        }
        // The source's end: every byte hashed (rest() refuses bytes past the size itself).
        await pieces.next();
      } finally {
        await pieces.return?.(undefined);
      }
      check();
    } else {
      // The registry has every byte (a PATCH whose answer was lost): hash the source to vouch for them.
      for await (const _ of rest()) {
        /* hashed on the way */
      }
      check();
    }
    const res = await this.client
      .request(repository, 'pull,push', {
        retry: ONCE,
        method: 'PUT',
        path: close(location),
        headers: { 'content-type': 'application/octet-stream' },
        body,
      })
      .catch((err: unknown) => {
        // A cut connection: the upload's status (or the blob itself) says whether it closed. A verdict
        // (credentials refused) is no break to resume from.
        throw isAirpackError(err) && !isAirpackError(err, 'NETWORK_ERROR') ? err : resumable(err);
      });
    if (res.status !== 201) {
      const err = await this.client.errorFor(res, `${what}: closing the upload`);
      // A 5xx here is one more break: the upload's status (or the blob itself) says where it stands.
      throw isRetryableStatus(res.status) ? resumable(err) : err;
    }
    await readBody(res, 64 * 1024).catch(() => undefined);
    progress(desc.size);
  }

  /** How many bytes the upload at `location` holds (its `Range: 0-N`) and where to send more; undefined when the registry no longer knows it. */
  private async uploadStatus(repository: string, location: string, what: string): Promise<{ bytes: number; location: string; ambiguous?: true } | undefined> {
    const res = await this.client.request(repository, 'pull,push', { method: 'GET', path: location });
    res.body.resume();
    if (res.status === 404) return undefined;
    if (res.status !== 204 && res.status !== 202) throw await this.client.errorFor(res, `${what}: upload status`);
    const range = /^(?:bytes=)?0-(\d+)$/.exec(firstHeader(res.headers.range) ?? '');
    const next = firstHeader(res.headers.location);
    // `0-0` is what distribution says for an empty upload as well as for one byte: ambiguous.
    const last = range ? Number(range[1]) : -1;
    const at = { bytes: last > 0 ? last + 1 : 0, location: next ? new URL(next, res.url).href : location };
    return last === 0 ? { ...at, ambiguous: true } : at;
  }
}
