/**
 * Credentials for a registry host, found where docker, podman and skopeo keep
 * them: `$REGISTRY_AUTH_FILE`, `$DOCKER_CONFIG/config.json` or
 * `~/.docker/config.json`. Inline `auths` entries, per-host `credHelpers` and
 * a default `credsStore` are honoured; helpers are the standard
 * `docker-credential-<name> get` programs.
 *
 * Credentials never go into messages or logs: errors name the host and the
 * file or helper, nothing more.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AirpackError } from '../errors.js';

export interface Credentials {
  username?: string;
  password?: string;
  /** An OAuth2 refresh token (docker's "identitytoken"), used instead of a password. */
  identityToken?: string;
}

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/** Where credential files are looked for, first match wins. */
export function credentialFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  const files: string[] = [];
  if (env.REGISTRY_AUTH_FILE) files.push(env.REGISTRY_AUTH_FILE);
  if (env.DOCKER_CONFIG) files.push(path.join(env.DOCKER_CONFIG, 'config.json'));
  else files.push(path.join(env.HOME ?? os.homedir(), '.docker', 'config.json'));
  if (env.XDG_RUNTIME_DIR) files.push(path.join(env.XDG_RUNTIME_DIR, 'containers', 'auth.json'));
  return files;
}

/** The keys a host may be stored under (docker writes Hub credentials under its v1 URL). */
function hostKeys(registry: string): string[] {
  if (registry === 'docker.io') return ['https://index.docker.io/v1/', 'index.docker.io', 'docker.io', 'registry-1.docker.io'];
  return [registry, `https://${registry}`, `http://${registry}`, `https://${registry}/v1/`, `https://${registry}/v2/`];
}

async function readConfig(file: string): Promise<DockerConfig | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(text) as DockerConfig;
  } catch (err) {
    throw new AirpackError('INVALID_ARGUMENT', `credentials file ${file}: not valid JSON`, { cause: err });
  }
}

function decodeAuth(entry: NonNullable<DockerConfig['auths']>[string], file: string, key: string): Credentials {
  if (entry.identitytoken) return { identityToken: entry.identitytoken };
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new AirpackError('INVALID_ARGUMENT', `credentials file ${file}: "auth" for ${key} is not base64 of user:password`);
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (entry.username !== undefined) return { username: entry.username, password: entry.password ?? '' };
  return {};
}

/**
 * How a helper failed, in words that never quote it: Node's error message
 * holds the helper's stderr, which may be the secret itself.
 */
function helperFailure(err: { code?: string | number | null; killed?: boolean; signal?: NodeJS.Signals | null }): string {
  if (err.code === 'ENOENT') return 'not found on PATH';
  if (err.killed) return `no answer within ${HELPER_TIMEOUT_MS / 1000} s`;
  if (err.signal) return `killed by ${err.signal}`;
  if (typeof err.code === 'number') return `exit code ${err.code}`;
  return err.code ? String(err.code) : 'could not be run';
}

const HELPER_TIMEOUT_MS = 30_000;

/** Run `docker-credential-<helper> get` with the host on stdin. */
export function runCredentialHelper(helper: string, registry: string): Promise<Credentials | undefined> {
  const program = `docker-credential-${helper}`;
  const serverUrl = registry === 'docker.io' ? 'https://index.docker.io/v1/' : registry;
  return new Promise((resolve, reject) => {
    const child = execFile(program, ['get'], { timeout: HELPER_TIMEOUT_MS }, (err, stdout) => {
      if (err) {
        // Helpers exit non-zero with "credentials not found" for unknown hosts: that is anonymous, not an error.
        if (/not found/i.test(stdout) || /credentials not found/i.test(String((err as { stderr?: string }).stderr ?? ''))) return resolve(undefined);
        return reject(new AirpackError('CREDENTIAL_HELPER_FAILED', `credential helper ${program} for ${registry} failed: ${helperFailure(err)} [its output is not shown: it may hold the secret]`));
      }
      try {
        const parsed = JSON.parse(stdout) as { Username?: string; Secret?: string };
        if (parsed.Username === '<token>') return resolve({ identityToken: parsed.Secret ?? '' });
        resolve({ username: parsed.Username ?? '', password: parsed.Secret ?? '' });
      } catch {
        reject(new AirpackError('CREDENTIAL_HELPER_FAILED', `credential helper ${program} for ${registry}: output is not JSON`));
      }
    });
    child.stdin?.end(serverUrl);
  });
}

/** Look up credentials for a registry; undefined means anonymous. */
export async function findCredentials(registry: string, env: NodeJS.ProcessEnv = process.env): Promise<Credentials | undefined> {
  for (const file of credentialFiles(env)) {
    const config = await readConfig(file);
    if (!config) continue;
    const keys = hostKeys(registry);
    for (const key of keys) {
      const helper = config.credHelpers?.[key];
      if (helper) return runCredentialHelper(helper, registry);
    }
    for (const key of keys) {
      const entry = config.auths?.[key];
      if (!entry) continue;
      const creds = decodeAuth(entry, file, key);
      if (creds.username !== undefined || creds.identityToken !== undefined) return creds;
    }
    if (config.credsStore) {
      const found = await runCredentialHelper(config.credsStore, registry);
      if (found) return found;
    }
  }
  return undefined;
}
