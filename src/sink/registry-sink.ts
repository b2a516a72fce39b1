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
 * - small blobs go up in one PUT; bigger ones in PATCH chunks, each
 *   response's `Location` used exactly as given (relative or absolute, query
 *   kept), then a closing `PUT ?digest=`;
 * - every byte read is hashed on the way: a source whose bytes are not
 *   their digest fails before the upload is closed, naming the digest.
 *
 * Manifests are PUT with `Content-Type` equal to their media type, and the
 * registry's `Docker-Content-Digest` must be ours. Children are always PUT,
 * even when a HEAD would say they exist: a half-finished earlier push must
 * heal by being run again (oras-go #1211).
 */
import { createHash, type Hash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BlobSource } from '../blob/download.js';
import { AirpackError, isAirpackError } from '../errors.js';
import { firstHeader, type FetchedManifest, type RegistryClient } from '../registry/client.js';
import { readBody } from '../registry/http.js';
import type { Descriptor } from '../spec/types.js';

/**
 * Upload requests (POST, PATCH, the closing PUT) change state on the registry: a retried
 * PATCH may apply twice, a retried POST leaves an orphan upload. They are sent once; after
 * a failed chunk the upload's status says what the registry has (see `upload`).
 */
const ONCE = { attempts: 1, baseDelayMs: 0, maxDelayMs: 0 };

/** Blobs up to this size go up in one request; bigger ones in chunks of this size (held in memory while sent). */
export const CHUNK_SIZE = 8 * 1024 * 1024;

export type BlobOutcome = 'present' | 'mounted' | 'uploaded';

export interface RegistryWriterOptions {
  /** Bytes uploaded, for progress. */
  onBytes?: (n: number) => void;
  /** A broken chunked upload goes on from `offset` (for tests and logs). */
  onResume?: (digest: string, offset: number) => void;
  chunkSize?: number;
}

/** How often one blob's chunked upload may go on after a broken chunk. */
const MAX_UPLOAD_RESUMES = 5;

/** A chunk failure that asking the registry where the upload stands can get past (a cut connection, a 5xx). */
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
  private readonly chunkSize: number;

  constructor(
    readonly client: RegistryClient,
    private readonly mounts: MountSources = new Map(),
    private readonly options: RegistryWriterOptions = {},
  ) {
    this.chunkSize = options.chunkSize ?? CHUNK_SIZE;
  }

  /** Makes sure `desc` is in `repository`, reading it from `sources` only when it must go up. */
  async putBlob(repository: string, desc: Descriptor, sources: readonly BlobSource[]): Promise<BlobOutcome> {
    const what = `blob ${desc.digest} into ${this.client.registry}/${repository}`;
    const head = await this.client.request(repository, 'pull,push', { method: 'HEAD', path: `/v2/${repository}/blobs/${desc.digest}` });
    head.body.resume();
    if (head.status === 200 && Number(firstHeader(head.headers['content-length']) ?? desc.size) === desc.size) {
      this.mounts.set(desc.digest, repository);
      return 'present';
    }
    let location: string;
    const from = this.mounts.get(desc.digest);
    if (from && from !== repository) {
      const res = await this.client.request(repository, 'pull,push', { retry: ONCE, method: 'POST', path: `/v2/${repository}/blobs/uploads/?mount=${encodeURIComponent(desc.digest)}&from=${encodeURIComponent(from)}`, body: '' });
      res.body.resume();
      if (res.status === 201) {
        this.mounts.set(desc.digest, repository);
        return 'mounted';
      }
      location = await this.uploadLocation(res, what);
    } else {
      const res = await this.client.request(repository, 'pull,push', { retry: ONCE, method: 'POST', path: `/v2/${repository}/blobs/uploads/`, body: '' });
      location = await this.uploadLocation(res, what);
    }
    await this.upload(repository, desc, sources, location, what);
    this.mounts.set(desc.digest, repository);
    return 'uploaded';
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
   * The blob's bytes into the upload at `location`: one PUT when small,
   * PATCH chunks when not. A chunk that fails (connection cut, 5xx) is not
   * sent again blindly: the upload's status (`GET`, its `Range`) says what
   * the registry has, and the upload goes on from there, the source read
   * from that offset and the hash taken from the last acknowledged chunk.
   * An upload the registry no longer knows starts over. A small blob (one
   * PUT) that fails fails; running the push again sends it again.
   */
  private async upload(repository: string, desc: Descriptor, sources: readonly BlobSource[], location: string, what: string): Promise<void> {
    const source = sources[0];
    if (!source) throw new AirpackError('NOT_FOUND', `${what}: no source holds its bytes`);
    // What the registry has acknowledged: bytes, the hash over them, and where to send the next.
    let acked = { bytes: 0, hash: createHash('sha256'), location };
    for (let attempt = 0; ; attempt++) {
      try {
        await this.sendFrom(repository, desc, source, acked, what, (a) => (acked = a));
        return;
      } catch (err) {
        if (!isResumable(err) || attempt >= MAX_UPLOAD_RESUMES || desc.size <= this.chunkSize) throw err;
        await sleep(Math.min(250 * 2 ** attempt, 4000));
        const at = await this.uploadOffset(repository, acked.location, what);
        if (at === undefined || at > acked.bytes) {
          // Gone, or holding bytes we cannot vouch for: a new upload from the first byte.
          const res = await this.client.request(repository, 'pull,push', { retry: ONCE, method: 'POST', path: `/v2/${repository}/blobs/uploads/`, body: '' });
          acked = { bytes: 0, hash: createHash('sha256'), location: await this.uploadLocation(res, what) };
        } else if (at < acked.bytes) {
          throw new AirpackError('REGISTRY_ERROR', `${what}: the registry holds ${at} bytes of the upload after acknowledging ${acked.bytes}`);
        }
        this.options.onResume?.(desc.digest, acked.bytes);
      }
    }
  }

  /** Sends the blob from `from.bytes` on, reporting each acknowledged chunk. */
  private async sendFrom(
    repository: string,
    desc: Descriptor,
    source: BlobSource,
    from: { bytes: number; hash: Hash; location: string },
    what: string,
    onAck: (acked: { bytes: number; hash: Hash; location: string }) => void,
  ): Promise<void> {
    const opened = await source.open(from.bytes);
    if (from.bytes > 0 && !opened.resumed) {
      opened.body.destroy();
      throw new AirpackError('REGISTRY_ERROR', `${what}: ${source.name} cannot be read from offset ${from.bytes} to resume the upload`);
    }
    const body = opened.body;
    const hash = from.hash.copy();
    let location = from.location;
    let sent = from.bytes;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const chunked = desc.size > this.chunkSize;
    const close = (url: string): string => `${url}${url.includes('?') ? '&' : '?'}digest=${encodeURIComponent(desc.digest)}`;
    const check = (): void => {
      const got = `sha256:${hash.copy().digest('hex')}`;
      if (sent !== desc.size) throw new AirpackError('SIZE_MISMATCH', `${what}: ${source.name} gave ${sent} bytes [expected ${desc.size}]`);
      if (got !== desc.digest) throw new AirpackError('DIGEST_MISMATCH', `${what}: ${source.name} gave bytes with digest ${got} [expected ${desc.digest}]`);
    };
    const patch = async (pieces: Buffer[], length: number): Promise<void> => {
      const start = sent - length;
      let res;
      try {
        res = await this.client.request(repository, 'pull,push', {
          retry: ONCE,
          method: 'PATCH',
          path: location,
          headers: { 'content-type': 'application/octet-stream', 'content-range': `${start}-${sent - 1}` },
          body: pieces,
        });
      } catch (err) {
        throw resumable(err);
      }
      if (res.status !== 202) {
        const err = await this.client.errorFor(res, `${what}: chunk at ${start}`);
        throw res.status >= 500 ? resumable(err) : err;
      }
      res.body.resume();
      // The newest Location, exactly as given: registries put their upload state in it.
      const next = firstHeader(res.headers.location);
      if (next) location = new URL(next, res.url).href;
      this.options.onBytes?.(length);
      onAck({ bytes: sent, hash: hash.copy(), location });
    };
    try {
      for await (const piece of body as AsyncIterable<Buffer>) {
        hash.update(piece);
        sent += piece.length;
        if (sent > desc.size) throw new AirpackError('SIZE_MISMATCH', `${what}: ${source.name} gave more than the ${desc.size} bytes its descriptor says`);
        pending.push(piece);
        pendingBytes += piece.length;
        if (chunked && pendingBytes >= this.chunkSize) {
          const chunk = pending;
          const length = pendingBytes;
          pending = [];
          pendingBytes = 0;
          await patch(chunk, length);
        }
      }
    } finally {
      body.destroy();
    }
    check();
    // A small blob goes up with the closing PUT; a big one's last chunk as a PATCH first.
    if (chunked && pendingBytes > 0) await patch(pending, pendingBytes);
    const res = await this.client.request(repository, 'pull,push', {
      retry: ONCE,
      method: 'PUT',
      path: close(location),
      headers: { 'content-type': 'application/octet-stream' },
      body: chunked ? '' : pending,
    });
    if (res.status !== 201) throw await this.client.errorFor(res, `${what}: closing the upload`);
    await readBody(res, 64 * 1024).catch(() => undefined);
    if (!chunked) this.options.onBytes?.(pendingBytes);
  }

  /** How many bytes the upload at `location` holds (its `Range: 0-N`); undefined when the registry no longer knows it. */
  private async uploadOffset(repository: string, location: string, what: string): Promise<number | undefined> {
    const res = await this.client.request(repository, 'pull,push', { method: 'GET', path: location });
    res.body.resume();
    if (res.status === 404) return undefined;
    if (res.status !== 204 && res.status !== 202) throw await this.client.errorFor(res, `${what}: upload status`);
    const range = /^(?:bytes=)?0-(\d+)$/.exec(firstHeader(res.headers.range) ?? '');
    return range ? Number(range[1]) + 1 : 0;
  }
}
