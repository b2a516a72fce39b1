/**
 * A real CNCF distribution registry (Debian's docker-registry, 2.8) on
 * 127.0.0.1 for tests: open, htpasswd (Basic) or token (Bearer) auth.
 *
 * Each registry gets its own temp dir holding config.yml, the storage root and
 * (for htpasswd) the password file; stop() kills the process and removes it.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { captureTail, freePort, makeTempDir, removeDir, runOk, stopChild, waitUntil } from './util.js';

export const REGISTRY_BIN = '/usr/bin/docker-registry';

export interface RegistryHandle {
  /** "127.0.0.1:PORT", the registry part of an image reference. */
  host: string;
  /** "http://127.0.0.1:PORT" */
  url: string;
  /** Filesystem storage root (docker/registry/v2/... lives below it). */
  storageDir: string;
  stop(): Promise<void>;
}

export interface RegistryOptions {
  /** Basic auth with one user (distribution's htpasswd auth, bcrypt only). */
  htpasswd?: { username: string; password: string };
  /** Bearer token auth against a token server (see token-server.ts). */
  token?: { realm: string; service: string; issuer: string; rootCertBundlePath: string };
  /** Run as a pull-through cache of this upstream (distribution's `proxy.remoteurl`). */
  proxyRemoteUrl?: string;
}

/** Start a registry and resolve once GET /v2/ answers (200, or 401 with auth). */
export async function startRegistry(opts: RegistryOptions = {}): Promise<RegistryHandle> {
  if (opts.htpasswd && opts.token) throw new Error('startRegistry: choose htpasswd or token auth, not both');
  // The port must be written into config.yml before the registry starts, so a
  // freshly freed port can be taken by someone else meanwhile: retry a few times.
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(opts, await freePort());
    } catch (err) {
      lastError = err;
      if (!String(err).includes('address already in use')) break;
    }
  }
  throw lastError;
}

async function startOnce(opts: RegistryOptions, port: number): Promise<RegistryHandle> {
  const dir = await makeTempDir('registry');
  try {
    const storageDir = join(dir, 'storage');
    await mkdir(storageDir);
    let auth = '';
    if (opts.htpasswd) {
      const path = join(dir, 'htpasswd');
      await writeFile(path, `${opts.htpasswd.username}:${await bcryptHash(opts.htpasswd.username, opts.htpasswd.password)}\n`);
      auth = ['auth:', '  htpasswd:', `    realm: ${q('airpack-test')}`, `    path: ${q(path)}`].join('\n');
    } else if (opts.token) {
      auth = [
        'auth:',
        '  token:',
        `    realm: ${q(opts.token.realm)}`,
        `    service: ${q(opts.token.service)}`,
        `    issuer: ${q(opts.token.issuer)}`,
        `    rootcertbundle: ${q(opts.token.rootCertBundlePath)}`,
      ].join('\n');
    }
    const config = [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${q(storageDir)}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: ${q(`127.0.0.1:${port}`)}`,
      // A fixed secret keeps the registry from logging a warning and makes
      // upload-state tokens reproducible; it protects nothing here.
      `  secret: ${q('airpack-test-secret')}`,
      'validation:',
      '  manifests:',
      '    urls:',
      // Without this, manifests whose layers carry `urls` (Windows foreign
      // layers) are refused with MANIFEST_BLOB_UNKNOWN / invalid URL.
      "      allow: ['^https?://']",
      auth,
      ...(opts.proxyRemoteUrl ? ['proxy:', `  remoteurl: ${q(opts.proxyRemoteUrl)}`] : []),
      '',
    ].join('\n');
    const configPath = join(dir, 'config.yml');
    await writeFile(configPath, config);

    const child = spawn(REGISTRY_BIN, ['serve', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    const tail = captureTail(child);
    let spawnError: Error | undefined;
    child.on('error', (err) => (spawnError = err));
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitUntil(
        `docker-registry on ${url}`,
        async () => {
          const res = await fetch(`${url}/v2/`);
          await res.arrayBuffer();
          return res.status === 200 || res.status === 401;
        },
        {
          failed: () => {
            if (spawnError) return spawnError;
            if (child.exitCode !== null || child.signalCode !== null) {
              return new Error(`docker-registry exited (${child.exitCode ?? child.signalCode}): ${tail().trim()}`);
            }
            return undefined;
          },
        },
      );
    } catch (err) {
      await stopChild(child);
      throw err;
    }
    let stopped: Promise<void> | undefined;
    return {
      host: `127.0.0.1:${port}`,
      url,
      storageDir,
      stop: () =>
        (stopped ??= (async () => {
          await stopChild(child);
          await removeDir(dir);
        })()),
    };
  } catch (err) {
    await removeDir(dir);
    throw err;
  }
}

/** A YAML double-quoted scalar; JSON string escapes are valid YAML escapes. */
function q(s: string): string {
  return JSON.stringify(s);
}

const BCRYPT_ALPHABET = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * A bcrypt hash (the only scheme distribution's htpasswd accepts), made with
 * perl's crypt(), which on Debian is libxcrypt and knows `$2b$`. perl-base is
 * Essential on Debian, so this needs neither apache2-utils nor an npm package.
 * The salt is derived from the user name so the file is reproducible.
 */
async function bcryptHash(username: string, password: string): Promise<string> {
  const h = createHash('sha256').update(`airpack-salt:${username}`).digest();
  let salt = '';
  for (let i = 0; i < 21; i++) salt += BCRYPT_ALPHABET[h[i]! % 64];
  // The 22nd character carries only 2 significant bits; pick a canonical one.
  salt += '.Oeu'[h[21]! % 4];
  const { stdout } = await runOk('perl', ['-e', 'print crypt($ENV{PW}, $ENV{SALT})'], {
    env: { ...process.env, PW: password, SALT: `$2b$05$${salt}` },
  });
  if (!stdout.startsWith('$2b$05$') || stdout.length !== 60) {
    throw new Error(`perl crypt() did not produce a bcrypt hash (got ${JSON.stringify(stdout)})`);
  }
  return stdout;
}
