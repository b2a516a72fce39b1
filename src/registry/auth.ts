/**
 * Registry authentication, as the distribution spec and docker do it:
 * a request answered 401 carries a `WWW-Authenticate` challenge. `Basic`
 * means send credentials on every request; `Bearer realm=...,service=...`
 * means fetch a token from the realm for the repository scope (with Basic
 * credentials, a refresh token, or anonymously) and send that instead.
 * Tokens are cached per scope until shortly before they expire.
 */
import { AirpackError } from '../errors.js';
import type { Credentials } from './credentials.js';
import { readBody, redactUrl, sendWithRetry, type TlsOptions } from './http.js';

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parse `Bearer realm="x",service="y",scope="a b"` (quoted or bare values, commas inside quotes). */
export function parseChallenge(header: string): Challenge | undefined {
  const m = /^\s*([A-Za-z]+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?\s*/g;
  const rest = m[2] ?? '';
  let p: RegExpExecArray | null;
  while ((p = re.exec(rest)) !== null) {
    if (p[0] === '') break;
    params[(p[1] ?? '').toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
  }
  return { scheme: (m[1] ?? '').toLowerCase(), params };
}

interface CachedToken {
  value: string;
  expiresAt: number;
}

/**
 * Per-registry authentication state. `authorize(scope)` returns the header to
 * send (or undefined for anonymous), `challenged(header, scope)` learns from a 401.
 */
export class RegistryAuth {
  private challenge: Challenge | undefined;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly pending = new Map<string, Promise<CachedToken>>();

  constructor(
    readonly registry: string,
    private readonly credentials: () => Promise<Credentials | undefined>,
    private readonly tls: TlsOptions | undefined,
  ) {}

  /** The Authorization header for a request in this scope, if we know how to make one. */
  async authorize(scope: string): Promise<string | undefined> {
    if (!this.challenge) return undefined;
    if (this.challenge.scheme === 'basic') {
      const creds = await this.credentials();
      if (!creds?.username) return undefined;
      return `Basic ${Buffer.from(`${creds.username}:${creds.password ?? ''}`).toString('base64')}`;
    }
    if (this.challenge.scheme === 'bearer') {
      const token = await this.token(scope);
      return `Bearer ${token.value}`;
    }
    throw new AirpackError('UNAUTHORIZED', `${this.registry}: unsupported authentication scheme "${this.challenge.scheme}"`);
  }

  /** The user whose password Basic auth sends, when it sends one: a 401 then means the password was refused. */
  async basicUser(): Promise<string | undefined> {
    if (this.challenge?.scheme !== 'basic') return undefined;
    return (await this.credentials())?.username || undefined;
  }

  /** Learn from a 401's challenge (and forget the token it refused); false when there is none to learn from. */
  challenged(header: string | undefined, scope: string): boolean {
    const parsed = header ? parseChallenge(header) : undefined;
    if (!parsed) return false;
    this.tokens.delete(scope);
    this.challenge = parsed;
    return true;
  }

  private token(scope: string): Promise<CachedToken> {
    const cached = this.tokens.get(scope);
    if (cached && cached.expiresAt > Date.now()) return Promise.resolve(cached);
    let pending = this.pending.get(scope);
    if (!pending) {
      pending = this.fetchToken(scope).finally(() => this.pending.delete(scope));
      this.pending.set(scope, pending);
    }
    return pending;
  }

  private async fetchToken(scope: string): Promise<CachedToken> {
    const params = this.challenge?.params ?? {};
    const realm = params.realm;
    if (!realm) throw new AirpackError('UNAUTHORIZED', `${this.registry}: Bearer challenge has no realm`);
    const realmUrl = new URL(realm);
    const creds = await this.credentials();
    const query = new URLSearchParams();
    if (params.service) query.set('service', params.service);
    if (scope) query.set('scope', scope);

    let res;
    if (creds?.identityToken) {
      // OAuth2 refresh-token grant, as docker does with an identity token.
      query.set('grant_type', 'refresh_token');
      query.set('refresh_token', creds.identityToken);
      query.set('client_id', 'airpack');
      res = await sendWithRetry({
        method: 'POST',
        url: realmUrl.href,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: query.toString(),
        tls: this.tls,
      });
    } else {
      const url = new URL(realmUrl);
      query.forEach((v, k) => url.searchParams.append(k, v));
      if (creds?.username) url.searchParams.set('account', creds.username);
      const headers: Record<string, string> = {};
      if (creds?.username) headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password ?? ''}`).toString('base64')}`;
      res = await sendWithRetry({ url: url.href, headers, tls: this.tls });
    }
    const body = await readBody(res, 1024 * 1024);
    if (res.status === 401 || res.status === 403) {
      throw new AirpackError('UNAUTHORIZED', `${this.registry}: token server ${redactUrl(realmUrl)} refused ${creds ? 'the credentials' : 'anonymous access'} for scope "${scope}" (HTTP ${res.status})`);
    }
    if (res.status !== 200) {
      throw new AirpackError('REGISTRY_ERROR', `${this.registry}: token server ${redactUrl(realmUrl)} answered HTTP ${res.status}`);
    }
    let parsed: { token?: string; access_token?: string; expires_in?: number };
    try {
      parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
    } catch (err) {
      throw new AirpackError('REGISTRY_ERROR', `${this.registry}: token server ${redactUrl(realmUrl)} sent a response that is not JSON`, { cause: err });
    }
    const value = parsed.token ?? parsed.access_token;
    if (!value) throw new AirpackError('REGISTRY_ERROR', `${this.registry}: token server ${redactUrl(realmUrl)} sent no token`);
    // The spec's default lifetime is 60 s; renew 10 s early.
    const lifetime = Math.max((parsed.expires_in ?? 60) - 10, 5) * 1000;
    const token = { value, expiresAt: Date.now() + lifetime };
    this.tokens.set(scope, token);
    return token;
  }
}
