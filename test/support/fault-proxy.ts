/**
 * An HTTP proxy on 127.0.0.1 in front of a real registry, for faults the
 * registry cannot make: each request passes `fault` first, which may let it
 * through, hold it, drop it, or cut the answer. Requests go on with their
 * Host header, so the registry's absolute Locations point back here.
 */
import http from 'node:http';

export type Fault =
  /** Forward as is. */
  | 'pass'
  /** Read the request, answer nothing, cut the connection (the registry never sees it). */
  | 'drop'
  /** Forward it, then cut the connection instead of relaying the answer (the registry has acted). */
  | 'cut-answer'
  /** Forward it after this many ms. */
  | { delayMs: number }
  /** Forward it, relay the answer's head and this many body bytes, then send nothing more (a stalled server). */
  | { stallAfter: number }
  /** Forward the request's head and this many bytes of its body, then cut both connections (an upload that breaks). */
  | { cutRequestAfter: number }
  /** Forward it, relay the answer's head and this many body bytes, then reset the connection (a download that breaks). */
  | { resetAfter: number }
  /** Answer it here, never forwarding it (a registry that no longer takes a token says 401 with a challenge). */
  | { status: number; headers?: Record<string, string>; body?: string };

export interface FaultProxy {
  /** "127.0.0.1:PORT", the registry part of a reference through the proxy. */
  host: string;
  stop(): Promise<void>;
}

export async function startFaultProxy(targetUrl: string, fault: (req: http.IncomingMessage) => Fault): Promise<FaultProxy> {
  const target = new URL(targetUrl);
  const forward = (req: http.IncomingMessage, res: http.ServerResponse, cutAnswer: boolean, stallAfter?: number, resetAfter?: number): void => {
    const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      if (cutAnswer) {
        answer.resume();
        req.socket.destroy();
        return;
      }
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      if (resetAfter !== undefined) {
        let relayed = 0;
        answer.on('data', (chunk: Buffer) => {
          if (relayed >= resetAfter) return;
          res.write(chunk.subarray(0, resetAfter - relayed));
          relayed += chunk.length;
          if (relayed >= resetAfter) {
            answer.destroy();
            setTimeout(() => req.socket.resetAndDestroy(), 20);
          }
        });
        // A body shorter than that is relayed whole.
        answer.on('end', () => {
          if (relayed < resetAfter) res.end();
        });
        return;
      }
      if (stallAfter === undefined) return void answer.pipe(res);
      let sent = 0;
      answer.on('data', (chunk: Buffer) => {
        if (sent < stallAfter) res.write(chunk.subarray(0, stallAfter - sent));
        sent += chunk.length;
      });
    });
    up.on('error', () => req.socket.destroy());
    req.pipe(up);
  };
  const forwardPart = (req: http.IncomingMessage, bytes: number): void => {
    const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => answer.resume());
    up.on('error', () => req.socket.destroy());
    let passed = 0;
    req.on('data', (chunk: Buffer) => {
      if (passed >= bytes) return;
      up.write(chunk.subarray(0, bytes - passed));
      passed += Math.min(chunk.length, bytes - passed);
      if (passed < bytes) return;
      req.pause();
      // A moment for the registry to store what it got, then the connection is gone both ways.
      setTimeout(() => {
        up.destroy();
        req.socket.destroy();
      }, 300);
    });
  };
  const server = http.createServer((req, res) => {
    const what = fault(req);
    if (what === 'drop') {
      req.resume();
      req.on('end', () => req.socket.destroy());
    } else if (what === 'cut-answer') forward(req, res, true);
    else if (what === 'pass') forward(req, res, false);
    else if ('stallAfter' in what) forward(req, res, false, what.stallAfter);
    else if ('cutRequestAfter' in what) forwardPart(req, what.cutRequestAfter);
    else if ('resetAfter' in what) forward(req, res, false, undefined, what.resetAfter);
    else if ('status' in what) {
      req.resume();
      res.writeHead(what.status, what.headers ?? {});
      res.end(what.body ?? '');
    }
    else setTimeout(() => forward(req, res, false), what.delayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    host: `127.0.0.1:${(server.address() as { port: number }).port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
