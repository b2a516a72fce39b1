/**
 * `serve`: a read-only OCI distribution registry over bundles and archives,
 * the image sources turned outward. It answers what a client pulling needs
 * (distribution spec, "pull" conformance):
 *
 *   GET  /v2/                                  200, API version header
 *   GET|HEAD /v2/<name>/manifests/<tag|digest> the bytes as stored, Content-Type
 *                                              their media type, Docker-Content-Digest
 *   GET|HEAD /v2/<name>/blobs/<digest>         Range (one range: 206 with Content-Range;
 *                                              unsatisfiable: 416)
 *   GET  /v2/<name>/tags/list, /v2/_catalog
 *
 * Anything else is answered with the spec's error JSON: 404 NAME_UNKNOWN /
 * MANIFEST_UNKNOWN / BLOB_UNKNOWN, 400 for a malformed digest or path, 405
 * UNSUPPORTED for every write. Request paths are matched against a strict
 * grammar (repository components, tags and digests as the spec defines
 * them) before anything is looked up, so `..` or encoded slashes never
 * reach the archives.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { AirpackError } from '../errors.js';
import { openCatalog, type Catalog } from './catalog.js';

export interface ServeOptions {
  /** `HOST:PORT` to listen on; default 127.0.0.1:5000. Port 0 picks a free one. */
  addr?: string;
  onWarning?: (message: string) => void;
  /** Called once per request, for logs. */
  onRequest?: (method: string, path: string, status: number) => void;
}

export interface Server {
  /** `http://host:port`. */
  url: string;
  /** Repositories served. */
  repositories: string[];
  close(): Promise<void>;
  /** Stops listening and drops every connection at once (for a process about to exit). */
  stopNow(): void;
}

/** The spec's grammar: path components of lowercase alphanumerics and separators. */
const NAME = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

function parseAddr(addr: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(addr);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port >= 0 && port < 65536)) throw new AirpackError('INVALID_ARGUMENT', `--addr "${addr}": expected HOST:PORT, e.g. 127.0.0.1:5000`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

function sendError(res: http.ServerResponse, status: number, code: string, message: string, head: boolean): void {
  const body = JSON.stringify({ errors: [{ code, message }] });
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'docker-distribution-api-version': 'registry/2.0' });
  res.end(head ? undefined : body);
}

/** One `bytes=a-b`, `bytes=a-` or `bytes=-n` range within `size`; null when unsatisfiable, undefined when absent. */
export function parseRange(header: string | undefined, size: number): { start: number; end: number } | null | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null;
  let start: number;
  let end: number;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (!(suffix > 0)) return null;
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start > end || start >= size) return null;
  return { start, end };
}

async function handle(catalog: Catalog, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const method = req.method ?? 'GET';
  const head = method === 'HEAD';
  res.setHeader('docker-distribution-api-version', 'registry/2.0');
  if (method !== 'GET' && method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return sendError(res, 405, 'UNSUPPORTED', `${method}: this registry is read-only (airpack serve)`, false);
  }
  // Matched on the raw path, before any normalisation: an encoded slash or a dot segment
  // matches no repository name in the grammar below, so it never reaches a lookup.
  const path = (req.url ?? '/').split('?')[0]!;
  if (path === '/v2/' || path === '/v2') {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 });
    return void res.end(head ? undefined : '{}');
  }
  if (path === '/v2/_catalog') {
    const body = JSON.stringify({ repositories: catalog.repositories() });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    return void res.end(head ? undefined : body);
  }
  const m = /^\/v2\/(.+)\/(manifests|blobs|tags)\/([^/]+)$/.exec(path);
  if (!m || !NAME.test(m[1]!)) return sendError(res, 404, 'NAME_INVALID', `${path}: not a registry path this server knows`, head);
  const [, name, kind, ref] = m as unknown as [string, string, string, string];
  const tags = catalog.tags(name);
  if (!tags) return sendError(res, 404, 'NAME_UNKNOWN', `repository ${name} is not served here`, head);

  if (kind === 'tags') {
    if (ref !== 'list') return sendError(res, 404, 'NAME_INVALID', `${path}: expected /v2/${name}/tags/list`, head);
    const body = JSON.stringify({ name, tags });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    return void res.end(head ? undefined : body);
  }

  if (kind === 'manifests') {
    if (!TAG.test(ref) && !DIGEST.test(ref)) return sendError(res, 400, ref.includes(':') ? 'DIGEST_INVALID' : 'TAG_INVALID', `${ref}: expected a tag or sha256:<64 hex>`, head);
    const manifest = await catalog.manifest(name, ref);
    if (!manifest) return sendError(res, 404, 'MANIFEST_UNKNOWN', `${name}${ref.startsWith('sha256:') ? '@' : ':'}${ref} is not served here`, head);
    res.writeHead(200, { 'content-type': manifest.mediaType, 'content-length': manifest.bytes.length, 'docker-content-digest': manifest.digest, etag: `"${manifest.digest}"` });
    return void res.end(head ? undefined : manifest.bytes);
  }

  if (!DIGEST.test(ref)) return sendError(res, 400, 'DIGEST_INVALID', `${ref}: expected sha256:<64 hex>`, head);
  const blob = catalog.blob(name, ref);
  if (!blob) return sendError(res, 404, 'BLOB_UNKNOWN', `blob ${ref} is not served here`, head);
  const range = parseRange(req.headers.range, blob.size);
  if (range === null) {
    res.writeHead(416, { 'content-range': `bytes */${blob.size}`, 'content-length': 0 });
    return void res.end();
  }
  const start = range?.start ?? 0;
  const end = range?.end ?? blob.size - 1;
  const headers: http.OutgoingHttpHeaders = {
    'content-type': 'application/octet-stream',
    'content-length': blob.size === 0 ? 0 : end - start + 1,
    'docker-content-digest': ref,
    'accept-ranges': 'bytes',
    etag: `"${ref}"`,
  };
  if (range) headers['content-range'] = `bytes ${start}-${end}/${blob.size}`;
  res.writeHead(range ? 206 : 200, headers);
  if (head || blob.size === 0) return void res.end();
  await pipeline(blob.stream(start, end), res);
}

/** Serves `paths` until `close()`. */
export async function serve(paths: readonly string[], options: ServeOptions = {}): Promise<Server> {
  if (paths.length === 0) throw new AirpackError('INVALID_ARGUMENT', 'serve: name at least one bundle or archive');
  const { host, port } = parseAddr(options.addr ?? '127.0.0.1:5000');
  const catalog = await openCatalog(paths, options.onWarning);
  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer((req, res) => {
    handle(catalog, req, res)
      .catch((err: unknown) => {
        // Headers may be out already (a stream broke): then the connection is cut.
        // The details (local paths) stay here: a remote client learns only that it failed.
        options.onWarning?.(`${req.method} ${req.url}: ${(err as Error).message}`);
        if (!res.headersSent) sendError(res, 500, 'UNKNOWN', 'the archive could not be read', req.method === 'HEAD');
        else res.destroy(err as Error);
      })
      .finally(() => options.onRequest?.(req.method ?? 'GET', req.url ?? '', res.statusCode));
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new AirpackError(err.code === 'EADDRINUSE' ? 'INVALID_ARGUMENT' : 'IO_ERROR', `serve: cannot listen on ${host}:${port} (${err.code ?? err.message})`, { cause: err })));
    server.listen(port, host, resolve);
  });
  const address = server.address() as AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shown}:${address.port}`,
    repositories: catalog.repositories(),
    stopNow() {
      server.close();
      for (const s of sockets) s.destroy();
    },
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      await catalog.close();
    },
  };
}
