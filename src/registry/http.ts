/**
 * HTTP for registries: node:http/https (not fetch) so that every request can
 * carry its own TLS settings (custom CA, --insecure) and the body is a plain
 * Node stream we can hash and spill to disk.
 *
 * `sendWithRetry` retries connection failures, 429 and 5xx with exponential
 * backoff, honouring Retry-After. Redirects are followed by hand so the
 * Authorization header never leaves the registry's host (blob downloads are
 * often redirected to object storage with a signed URL).
 */
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { AirpackError } from '../errors.js';

export interface TlsOptions {
  /** Extra CA certificates (PEM) to trust. */
  ca?: string | Buffer | undefined;
  /** Skip certificate verification (only for hosts the user named). */
  rejectUnauthorized?: boolean;
}

export interface HttpRequest {
  method?: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  /** Bytes to send; pieces are written one after another (no copy into one buffer); a stream needs `bodyLength`. */
  body?: Buffer | string | readonly Buffer[] | Readable;
  /** The length of a stream body (Content-Length). */
  bodyLength?: number;
  tls?: TlsOptions;
  /** Abort a request whose response has not started within this many ms. */
  timeoutMs?: number;
  /** Cut a response whose body sends nothing for this many ms (a stalled server); default 60 s. */
  idleMs?: number;
}

/** How long a response body may send nothing before it is cut: a stalled server is an error to resume from, not a hang. */
export const DEFAULT_IDLE_MS = 60_000;

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The final URL after redirects. */
  url: string;
  body: http.IncomingMessage;
}

export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseDelayMs: 250, maxDelayMs: 30_000 };

const agents = { http: new http.Agent({ keepAlive: true, maxSockets: 16 }), https: new https.Agent({ keepAlive: true, maxSockets: 16 }) };
const MAX_REDIRECTS = 10;

/** One request, redirects followed; no retries. */
export async function send(req: HttpRequest): Promise<HttpResponse> {
  let url = new URL(req.url);
  let headers = { 'user-agent': 'airpack', ...req.headers };
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const res = await sendOnce({ ...req, url: url.href, headers });
    // A stream body is spent by the first request: a redirect is the caller's to follow.
    if (req.body instanceof Readable) return res;
    if (res.status >= 300 && res.status < 400 && res.headers.location && res.status !== 304) {
      res.body.resume();
      const next = new URL(res.headers.location, url);
      if (next.host !== url.host) {
        // Signed storage URLs carry their own credentials; ours must not follow them.
        const { authorization: _dropped, ...rest } = headers as Record<string, string>;
        headers = rest as typeof headers;
      }
      url = next;
      continue;
    }
    return res;
  }
  throw new AirpackError('NETWORK_ERROR', `${req.url}: more than ${MAX_REDIRECTS} redirects`);
}

function sendOnce(req: HttpRequest & { headers: Record<string, string> }): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const url = new URL(req.url);
    const isHttps = url.protocol === 'https:';
    const options: https.RequestOptions = {
      method: req.method ?? 'GET',
      headers: req.body !== undefined ? { ...req.headers, 'content-length': String(req.bodyLength ?? bodyLength(req.body)) } : req.headers,
    };
    if (isHttps) {
      options.agent = req.tls?.ca !== undefined || req.tls?.rejectUnauthorized === false ? undefined : agents.https;
      if (req.tls?.ca !== undefined) options.ca = req.tls.ca;
      if (req.tls?.rejectUnauthorized === false) options.rejectUnauthorized = false;
    } else {
      options.agent = agents.http;
    }
    const r = (isHttps ? https : http).request(url, options, (res) => {
      r.setTimeout(0);
      // The socket may go back to the pool after this response: its timer and listener go with the response.
      const idle = req.idleMs ?? DEFAULT_IDLE_MS;
      const socket = res.socket;
      // A broken transfer, as a reset would be (a download resumes from it), not an AirpackError verdict.
      const onIdle = (): void => {
        res.destroy(Object.assign(new Error(`${options.method} ${redactUrl(url)}: no data for ${idle / 1000} s (the server stalled)`), { code: 'ETIMEDOUT' }));
      };
      socket.setTimeout(idle);
      socket.on('timeout', onIdle);
      res.once('close', () => {
        socket.setTimeout(0);
        socket.off('timeout', onIdle);
      });
      resolve({ status: res.statusCode ?? 0, headers: res.headers, url: url.href, body: res });
    });
    r.setTimeout(req.timeoutMs ?? 60_000, () => r.destroy(new Error(`no response within ${req.timeoutMs ?? 60_000} ms`)));
    r.on('error', (err) => reject(new AirpackError('NETWORK_ERROR', `${options.method} ${redactUrl(url)}: ${err.message}`, { cause: err })));
    if (req.body instanceof Readable) {
      // A body that fails (its source did) ends the request: the caller learns why from its source.
      // A request that ends early (an error, an early answer) ends the body: nothing is left suspended.
      const body = req.body;
      body.once('error', (err) => r.destroy(err));
      r.once('close', () => body.destroy());
      body.pipe(r);
    } else if (Array.isArray(req.body)) {
      for (const piece of req.body) r.write(piece);
      r.end();
    } else if (req.body !== undefined) r.end(req.body as Buffer | string);
    else r.end();
  });
}

function bodyLength(body: Buffer | string | readonly Buffer[] | Readable): number {
  if (body instanceof Readable) throw new Error('http: a stream body needs bodyLength');
  return Array.isArray(body) ? body.reduce((n: number, b: Buffer) => n + b.length, 0) : Buffer.byteLength(body as Buffer | string);
}

export function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 408 || (status >= 500 && status !== 501 && status !== 505);
}

/** Delay before attempt n (1-based retry count), honouring a Retry-After header when given. */
export function retryDelay(policy: RetryPolicy, retry: number, retryAfter?: string | string[]): number {
  const header = Array.isArray(retryAfter) ? retryAfter[0] : retryAfter;
  if (header) {
    const seconds = Number(header);
    const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - Date.now();
    if (Number.isFinite(ms) && ms >= 0) return Math.min(ms, policy.maxDelayMs);
  }
  return Math.min(policy.baseDelayMs * 2 ** (retry - 1), policy.maxDelayMs);
}

/**
 * Send with retries on network errors, 429 and 5xx. The final response is
 * returned whatever its status; callers decide what a 4xx means.
 */
export async function sendWithRetry(req: HttpRequest, policy: RetryPolicy = DEFAULT_RETRY): Promise<HttpResponse> {
  let lastError: unknown;
  // A stream body can be sent once.
  const attempts = req.body instanceof Readable ? 1 : policy.attempts;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    try {
      const res = await send(req);
      if (!isRetryableStatus(res.status) || attempt === attempts) return res;
      res.body.resume();
      await sleep(retryDelay(policy, attempt, res.headers['retry-after']));
    } catch (err) {
      lastError = err;
      if (attempt === attempts) break;
      await sleep(retryDelay(policy, attempt));
    }
  }
  throw lastError;
}

/**
 * Read a whole (small) body: manifests, configs, token responses, error
 * documents. Beyond `limit` it stops reading: `tooLarge` says whose fault
 * that is (a manifest too big is bad data, exit 4).
 */
export async function readBody(res: HttpResponse, limit = 16 * 1024 * 1024, tooLarge: 'REGISTRY_ERROR' | 'MANIFEST_INVALID' = 'REGISTRY_ERROR'): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) {
      res.body.destroy();
      throw new AirpackError(tooLarge, `${redactUrl(new URL(res.url))}: response larger than ${limit} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** A URL safe to print: no user:password, no query (signed URLs carry secrets there). */
export function redactUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname}`;
}
