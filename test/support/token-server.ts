/**
 * An in-process Docker token server (distribution's "token authentication"
 * spec) for a registry started with `startRegistry({ token })`.
 *
 * Keys: an EC P-256 key and a self-signed certificate made with the openssl
 * CLI. The certificate is both the registry's `rootcertbundle` and the single
 * entry of the JWT header's `x5c` chain; distribution 2.8 verifies the chain
 * against the bundle (a self-signed cert that is itself a root verifies as a
 * chain of one) and then the ES256 signature with the leaf's key. That avoids
 * the libtrust `kid` format altogether.
 *
 * Endpoints (both at `realm`):
 * - GET  /token?service=S&scope=repository:NAME:pull,push[&scope=...]
 *        with an optional `Authorization: Basic` header (docker, skopeo, fetch);
 * - POST /token form grant_type=password&username&password&service&scope
 *        (containerd tries this OAuth2 form first when it has credentials).
 */
import { createPrivateKey, randomBytes, sign, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { makeTempDir, removeDir, runOk } from './util.js';

export interface TokenServerOptions {
  /** user -> password; these users get pull and push on every repository. */
  users: Record<string, string>;
  /** Must equal the registry's auth.token.service (the JWT audience). */
  service: string;
  /** Repository names anyone may pull without credentials. */
  anonymousPull?: string[];
  /** Token lifetime in seconds (default 300). */
  expiresIn?: number;
}

export interface TokenRequestRecord {
  method: 'GET' | 'POST';
  /** The scopes asked for, as sent ("repository:library/x:pull,push"). */
  scope: string[];
  /** The authenticated user; absent for anonymous requests. */
  user?: string;
  service?: string;
  /** HTTP status answered: 200, or 401 for bad credentials. */
  status: number;
  /** What the token grants (empty actions are left out). */
  granted: AccessEntry[];
}

export interface AccessEntry {
  type: string;
  name: string;
  actions: string[];
}

export interface TokenServerHandle {
  /** Where clients fetch tokens, "http://127.0.0.1:PORT/token". */
  realm: string;
  issuer: string;
  service: string;
  /** PEM certificate to configure as the registry's rootcertbundle. */
  rootCertBundlePath: string;
  /** Every token request, in order, without passwords. */
  requests: TokenRequestRecord[];
  stop(): Promise<void>;
}

export const TOKEN_ISSUER = 'airpack-test-token-issuer';

export async function startTokenServer(opts: TokenServerOptions): Promise<TokenServerHandle> {
  const dir = await makeTempDir('token');
  try {
    const keyPath = join(dir, 'key.pem');
    const certPath = join(dir, 'cert.pem');
    await runOk('openssl', [
      'req', '-x509', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
      '-keyout', keyPath, '-out', certPath, '-days', '3650', '-subj', '/CN=airpack-test-token',
    ]);
    const key = createPrivateKey(await readFile(keyPath));
    const certDerB64 = pemToDerBase64(await readFile(certPath, 'utf8'));

    const requests: TokenRequestRecord[] = [];
    const anonymous = new Set(opts.anonymousPull ?? []);
    const expiresIn = opts.expiresIn ?? 300;

    const server = createServer((req, res) => {
      handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { errors: [{ code: 'UNKNOWN', message: String(err) }] });
        else res.destroy();
      });
    });

    async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname !== '/token' || (req.method !== 'GET' && req.method !== 'POST')) {
        sendJson(res, 404, { errors: [{ code: 'NOT_FOUND', message: 'not found' }] });
        return;
      }
      let params = url.searchParams;
      let scopes: string[];
      let creds: { user: string; password: string } | undefined;
      if (req.method === 'POST') {
        params = new URLSearchParams((await readBody(req)).toString('utf8'));
        // OAuth2 form: one space-separated scope parameter.
        scopes = params.getAll('scope').flatMap((s) => s.split(' ')).filter(Boolean);
        if (params.get('grant_type') === 'password') {
          creds = { user: params.get('username') ?? '', password: params.get('password') ?? '' };
        } else if (params.get('grant_type') !== null) {
          // refresh_token grants are not supported: we never hand out refresh tokens.
          sendJson(res, 400, { error: 'unsupported_grant_type' });
          return;
        }
      } else {
        scopes = params.getAll('scope').filter(Boolean);
        creds = parseBasic(req.headers.authorization);
      }
      const service = params.get('service') ?? undefined;
      const record: TokenRequestRecord = {
        method: req.method,
        scope: scopes,
        ...(creds ? { user: creds.user } : {}),
        ...(service !== undefined ? { service } : {}),
        status: 200,
        granted: [],
      };
      requests.push(record);

      if (creds && opts.users[creds.user] !== creds.password) {
        record.status = 401;
        res.setHeader('WWW-Authenticate', 'Basic realm="airpack-test-token"');
        sendJson(res, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }] });
        return;
      }

      record.granted = scopes
        .map(parseScope)
        .filter((s): s is AccessEntry => s !== undefined)
        .map((s) => ({ ...s, actions: s.actions.filter((a) => allowed(s, a, creds !== undefined)) }))
        .filter((s) => s.actions.length > 0);

      const now = Math.floor(Date.now() / 1000);
      const token = signJwt(key, certDerB64, {
        iss: TOKEN_ISSUER,
        sub: creds?.user ?? '',
        aud: opts.service,
        exp: now + expiresIn,
        // Back-dated a little: the registry rejects tokens "not yet valid".
        nbf: now - 10,
        iat: now,
        jti: randomBytes(12).toString('hex'),
        access: record.granted,
      });
      sendJson(res, 200, {
        token,
        access_token: token,
        expires_in: expiresIn,
        issued_at: new Date(now * 1000).toISOString(),
      });
    }

    function allowed(scope: AccessEntry, action: string, authenticated: boolean): boolean {
      if (scope.type !== 'repository') return false;
      if (authenticated) return action === 'pull' || action === 'push';
      return action === 'pull' && anonymous.has(scope.name);
    }

    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const { port } = server.address() as AddressInfo;

    let stopped: Promise<void> | undefined;
    return {
      realm: `http://127.0.0.1:${port}/token`,
      issuer: TOKEN_ISSUER,
      service: opts.service,
      rootCertBundlePath: certPath,
      requests,
      stop: () =>
        (stopped ??= (async () => {
          server.closeAllConnections();
          await new Promise<void>((resolve) => server.close(() => resolve()));
          await removeDir(dir);
        })()),
    };
  } catch (err) {
    await removeDir(dir);
    throw err;
  }
}

/** "repository:library/x:pull,push" -> entry; the name may not hold ':' but the type may carry "(class)". */
export function parseScope(scope: string): AccessEntry | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first < 0 || last <= first) return undefined;
  return {
    type: scope.slice(0, first).replace(/\(.*\)$/, ''),
    name: scope.slice(first + 1, last),
    actions: scope.slice(last + 1).split(',').filter(Boolean),
  };
}

function parseBasic(header: string | undefined): { user: string; password: string } | undefined {
  const m = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!m?.[1]) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function signJwt(key: KeyObject, certDerB64: string, claims: object): string {
  const header = { typ: 'JWT', alg: 'ES256', x5c: [certDerB64] };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  // JWS wants the raw r||s form, not the DER signature node produces by default.
  const sig = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${b64url(sig)}`;
}

function b64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

function pemToDerBase64(pem: string): string {
  const m = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(pem);
  if (!m?.[1]) throw new Error('no certificate in PEM');
  return m[1].replace(/\s+/g, '');
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const data = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': data.length });
  res.end(data);
}
