/**
 * A client for one OCI distribution registry host: resolve manifests, open
 * blobs (optionally from an offset, for resume), push blobs and manifests.
 *
 * Transport: https, unless the host is insecure (localhost, 127.0.0.0/8, ::1
 * or named by the user), in which case https is tried first and plain http is
 * the fallback, as docker does. The first call pings `/v2/` to pick the
 * scheme and learn the authentication challenge.
 */
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { AirpackError } from '../errors.js';
import { apiHost } from '../ref/reference.js';
import { MANIFEST_ACCEPT } from '../spec/media-types.js';
import type { Descriptor } from '../spec/types.js';
import { RegistryAuth } from './auth.js';
import { findCredentials, type Credentials } from './credentials.js';
import { isRetryableStatus, readBody, redactUrl, sendWithRetry, type HttpRequest, type HttpResponse, type RetryPolicy, type TlsOptions } from './http.js';

export interface RegistryOptions {
  /** Hosts for which plain http and unverified TLS are allowed (localhost and 127.0.0.0/8 always are). */
  insecureHosts?: readonly string[];
  /** Extra CA certificates (PEM) to trust. */
  ca?: string | Buffer;
  /** Override where credentials come from (default: docker/podman config files and helpers). */
  credentials?: (registry: string) => Promise<Credentials | undefined>;
  retry?: RetryPolicy;
  /** A server that sends nothing for this many ms, before its answer or within a body, is cut (a download resumed); default 60 s. */
  idleTimeoutMs?: number;
}

export interface FetchedManifest {
  mediaType: string;
  digest: string;
  bytes: Buffer;
}

/** Manifests larger than this are refused, as registries do (the spec suggests 4 MiB). */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Configs and other blobs read into memory. */
export const MAX_SMALL_BLOB_BYTES = 64 * 1024 * 1024;

export function sha256Digest(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function isLoopbackHost(host: string): boolean {
  const name = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return name === 'localhost' || name === '::1' || /^127\.\d+\.\d+\.\d+$/.test(name);
}

export class RegistryClient {
  readonly host: string;
  private base: Promise<string> | undefined;
  private readonly auth: RegistryAuth;
  private readonly insecure: boolean;
  private readonly tls: TlsOptions;

  constructor(readonly registry: string, private readonly options: RegistryOptions = {}) {
    this.host = apiHost(registry);
    this.insecure = isLoopbackHost(this.host) || (options.insecureHosts ?? []).includes(registry) || (options.insecureHosts ?? []).includes(this.host);
    this.tls = { ca: options.ca, rejectUnauthorized: !this.insecure };
    let creds: Promise<Credentials | undefined> | undefined;
    const lookup = options.credentials ?? ((r: string) => findCredentials(r));
    this.auth = new RegistryAuth(registry, () => (creds ??= lookup(registry)), this.tls);
  }

  /** `https://host` or, for insecure hosts that do not speak TLS, `http://host`. */
  baseUrl(): Promise<string> {
    this.base ??= this.ping();
    return this.base;
  }

  private async ping(): Promise<string> {
    const candidates = this.insecure ? [`https://${this.host}`, `http://${this.host}`] : [`https://${this.host}`];
    let lastError: unknown;
    for (const [i, base] of candidates.entries()) {
      // With a fallback left, a failed probe moves on at once: an https probe of a plain-http
      // registry fails the same way every time, and a retry would only add its delay (200 ms).
      const attempts = i < candidates.length - 1 ? 1 : 2;
      try {
        const res = await sendWithRetry({ url: `${base}/v2/`, tls: this.tls, timeoutMs: 15_000 }, { attempts, baseDelayMs: 200, maxDelayMs: 1000 });
        res.body.resume();
        if (res.status === 401) this.auth.challenged(firstHeader(res.headers['www-authenticate']), '');
        return base;
      } catch (err) {
        lastError = err;
      }
    }
    throw new AirpackError('NETWORK_ERROR', `registry ${this.registry}: cannot connect (${(lastError as Error).message})`, { cause: lastError });
  }

  /**
   * A request to the registry with authentication: sends what we know, and on
   * 401 learns the challenge and tries once more.
   */
  async request(repository: string, actions: 'pull' | 'pull,push', req: Omit<HttpRequest, 'url' | 'tls'> & { path: string; retry?: RetryPolicy }): Promise<HttpResponse> {
    const base = await this.baseUrl();
    const scope = `repository:${repository}:${actions}`;
    const url = req.path.startsWith('http') ? req.path : `${base}${req.path}`;
    // Credentials go only to the registry itself: an upload Location (or any absolute URL) on
    // another origin gets none, and an https registry may not send us to plain http.
    const sameOrigin = new URL(url).origin === new URL(base).origin;
    if (!sameOrigin && base.startsWith('https:') && url.startsWith('http:')) {
      throw new AirpackError('REGISTRY_ERROR', `registry ${this.registry}: sent us to ${redactUrl(new URL(url))}, plain http from https [refused]`);
    }
    for (let attempt = 0; ; attempt++) {
      const authorization = sameOrigin ? await this.auth.authorize(scope) : undefined;
      const headers = { ...req.headers, ...(authorization ? { authorization } : {}) };
      const { retry, path: _path, ...http } = req;
      // A server that sends nothing, before its answer starts or in the middle of a body, is cut alike.
      const idle = this.options.idleTimeoutMs !== undefined ? { idleMs: this.options.idleTimeoutMs, timeoutMs: this.options.idleTimeoutMs } : {};
      const res = await sendWithRetry({ ...http, ...idle, url, headers, tls: this.tls }, retry ?? this.options.retry);
      if (res.status !== 401 || attempt > 0) return res;
      // A stream body is spent: take the new token, and let the caller go on (an upload asks where it stands).
      if (req.body instanceof Readable) {
        this.auth.challenged(firstHeader(res.headers['www-authenticate']), scope);
        return res;
      }
      res.body.resume();
      if (!this.auth.challenged(firstHeader(res.headers['www-authenticate']), scope)) return res;
    }
  }

  /** GET a manifest by tag or digest; the digest is computed and, when pinned, checked. */
  async getManifest(repository: string, reference: string): Promise<FetchedManifest> {
    // A digest of another algorithm could not be checked here: the registry's bytes would go unverified.
    if (reference.includes(':') && !reference.startsWith('sha256:')) {
      throw new AirpackError('MANIFEST_INVALID', `manifest ${this.registry}/${repository}@${reference}: digest algorithm "${reference.split(':')[0]}" is not supported [expected sha256]`);
    }
    const res = await this.request(repository, 'pull', { path: `/v2/${repository}/manifests/${reference}`, headers: { accept: MANIFEST_ACCEPT } });
    const what = `${this.registry}/${repository}:${reference}`.replace(/:sha256:/, '@sha256:');
    if (res.status !== 200) throw await this.errorFor(res, `manifest ${what}`);
    const bytes = await readBody(res, MAX_MANIFEST_BYTES, 'MANIFEST_INVALID');
    const digest = sha256Digest(bytes);
    if (reference.startsWith('sha256:') && digest !== reference) {
      throw new AirpackError('DIGEST_MISMATCH', `manifest ${what}: registry sent bytes with digest ${digest} [expected ${reference}]`);
    }
    let mediaType = firstHeader(res.headers['content-type'])?.split(';')[0]?.trim() ?? '';
    try {
      const parsed = JSON.parse(bytes.toString('utf8')) as { mediaType?: string };
      // The document's own mediaType is authoritative; some registries send application/json.
      if (parsed.mediaType) mediaType = parsed.mediaType;
    } catch (err) {
      throw new AirpackError('MANIFEST_INVALID', `manifest ${what}: not valid JSON`, { cause: err });
    }
    return { mediaType, digest, bytes };
  }

  /**
   * Open a blob for reading, from `offset` when resuming. Resolves with the
   * response and whether the server honoured the range (206) or restarted (200).
   */
  async openBlob(repository: string, digest: string, offset = 0): Promise<{ res: HttpResponse; resumed: boolean }> {
    const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
    const res = await this.request(repository, 'pull', { path: `/v2/${repository}/blobs/${digest}`, headers });
    if (res.status === 206 && offset > 0) return { res, resumed: true };
    if (res.status === 200) return { res, resumed: false };
    throw await this.errorFor(res, `blob ${digest} in ${this.registry}/${repository}`);
  }

  /** A small blob (a config) read into memory, checked against its descriptor's size and digest. */
  async getSmallBlob(repository: string, desc: Descriptor, what: string): Promise<Buffer> {
    if (desc.size > MAX_SMALL_BLOB_BYTES) throw new AirpackError('MANIFEST_INVALID', `${what}: ${desc.size} bytes is too large for a config [at most ${MAX_SMALL_BLOB_BYTES}]`);
    const { res } = await this.openBlob(repository, desc.digest);
    const bytes = await readBody(res, MAX_SMALL_BLOB_BYTES);
    const digest = sha256Digest(bytes);
    if (bytes.length !== desc.size || digest !== desc.digest) {
      throw new AirpackError('DIGEST_MISMATCH', `${what}: registry sent ${bytes.length} bytes with digest ${digest} [expected ${desc.size} bytes, ${desc.digest}]`);
    }
    return bytes;
  }

  /** Turn a non-success response into an error that names the thing and the registry's own words. */
  async errorFor(res: HttpResponse, what: string): Promise<AirpackError> {
    let detail = '';
    try {
      const body = JSON.parse((await readBody(res, 64 * 1024)).toString('utf8')) as { errors?: Array<{ code?: string; message?: string }> };
      detail = (body.errors ?? []).map((e) => `${e.code ?? ''}: ${e.message ?? ''}`).join('; ');
    } catch {
      res.body.resume();
    }
    const suffix = detail ? ` (${detail})` : '';
    const where = redactUrl(new URL(res.url));
    if (res.status === 404) return new AirpackError('NOT_FOUND', `${what}: not found (HTTP 404 from ${where})${suffix}`);
    if (res.status === 401) {
      const user = await this.auth.basicUser().catch(() => undefined);
      return new AirpackError('UNAUTHORIZED', user ? `${what}: the registry refused the credentials of user "${user}" (HTTP 401)${suffix}` : `${what}: authentication required (HTTP 401)${suffix}`);
    }
    if (res.status === 403) return new AirpackError('DENIED', `${what}: access denied (HTTP 403)${suffix}`);
    // Still unavailable after the retries (503, 502, 429...): the registry is down or overloaded, not refusing;
    // a network failure to run again later (exit 5), not "the registry refused" (3).
    if (isRetryableStatus(res.status)) return new AirpackError('NETWORK_ERROR', `${what}: HTTP ${res.status} from ${where}: the registry is unavailable, try again later${suffix}`);
    return new AirpackError('REGISTRY_ERROR', `${what}: HTTP ${res.status} from ${where}${suffix}`);
  }
}

export function firstHeader(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** One client per registry host, shared by everything in a run (tokens and connections are reused). */
export class RegistryPool {
  private readonly clients = new Map<string, RegistryClient>();
  constructor(private readonly options: RegistryOptions = {}) {}
  get(registry: string): RegistryClient {
    let client = this.clients.get(registry);
    if (!client) {
      client = new RegistryClient(registry, this.options);
      this.clients.set(registry, client);
    }
    return client;
  }
}
