/**
 * A plain loopback HTTP server that serves fixed bytes at fixed paths: the
 * stand-in for the URLs in a Windows foreign layer's descriptor
 * (`"urls": ["https://mcr.microsoft.com/v2/.../blobs/sha256:..."]`).
 *
 * It counts hits, honours single Range requests (`bytes=N-` and `bytes=N-M`)
 * with 206, and can be told to fail the next request for a path, so tests can
 * drive retry and Range-resume logic deterministically.
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How the next request fails; 'pass' serves it normally (to target the one after). */
export type FailMode = 'drop-mid-body' | '500' | '429' | 'pass';

export interface BlobRequestRecord {
  method: string;
  path: string;
  /** The Range header as sent, if any. */
  range?: string;
  /** Status sent, or 'dropped' when the connection was cut mid-body. */
  outcome: number | 'dropped';
}

export interface BlobServerHandle {
  /** "http://127.0.0.1:PORT", no trailing slash. */
  url: string;
  /** Serve `data` at `path` (must start with '/'). */
  put(path: string, data: Buffer): void;
  /** Requests per path, failed ones included. */
  hits: Map<string, number>;
  /** Every request in order. */
  requests: BlobRequestRecord[];
  /** Make the next request for `path` fail; calls queue up, one failure per request. */
  failNext(path: string, mode: FailMode): void;
  stop(): Promise<void>;
}

export async function startBlobServer(): Promise<BlobServerHandle> {
  const blobs = new Map<string, Buffer>();
  const failures = new Map<string, FailMode[]>();
  const hits = new Map<string, number>();
  const requests: BlobRequestRecord[] = [];

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const method = req.method ?? 'GET';
    const range = req.headers.range;
    const record: BlobRequestRecord = { method, path, ...(range !== undefined ? { range } : {}), outcome: 0 };
    requests.push(record);
    hits.set(path, (hits.get(path) ?? 0) + 1);

    const data = blobs.get(path);
    if (method !== 'GET' && method !== 'HEAD') {
      record.outcome = 405;
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (!data) {
      record.outcome = 404;
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }

    const mode = failures.get(path)?.shift();
    if (mode === '500' || mode === '429') {
      record.outcome = Number(mode);
      // Retry-After 0 keeps retry tests fast while still exercising the header.
      res.writeHead(record.outcome, { 'Content-Type': 'text/plain', ...(mode === '429' ? { 'Retry-After': '0' } : {}) });
      res.end(`injected ${mode}\n`);
      return;
    }

    let start = 0;
    let end = data.length - 1;
    let status = 200;
    if (range !== undefined) {
      const m = /^bytes=(\d+)-(\d*)$/.exec(range.trim());
      const from = m ? Number(m[1]) : NaN;
      const to = m?.[2] ? Math.min(Number(m[2]), data.length - 1) : data.length - 1;
      if (!m || from >= data.length || to < from) {
        record.outcome = 416;
        res.writeHead(416, { 'Content-Range': `bytes */${data.length}` }).end();
        return;
      }
      start = from;
      end = to;
      status = 206;
    }
    const body = data.subarray(start, end + 1);
    const headers: Record<string, string | number> = {
      'Content-Type': 'application/octet-stream',
      'Content-Length': body.length,
      'Accept-Ranges': 'bytes',
      ETag: `"${createHash('sha256').update(data).digest('hex')}"`,
    };
    if (status === 206) headers['Content-Range'] = `bytes ${start}-${end}/${data.length}`;
    res.writeHead(status, headers);
    record.outcome = status;

    if (method === 'HEAD') {
      res.end();
    } else if (mode === 'drop-mid-body') {
      record.outcome = 'dropped';
      // Headers promise the full length; half arrives, then the socket dies.
      // Flush the half before destroying, or the client may see no body at all.
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.socket?.destroy());
    } else {
      res.end(body);
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  let stopped: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    put(path, data) {
      if (!path.startsWith('/')) throw new Error(`blob server path must start with '/': ${path}`);
      blobs.set(path, data);
    },
    hits,
    requests,
    failNext(path, mode) {
      const queue = failures.get(path) ?? [];
      queue.push(mode);
      failures.set(path, queue);
    },
    stop: () =>
      (stopped ??= new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      })),
  };
}
