/**
 * Authentication against the real registry: its token auth (Bearer, with a
 * token server we run) and its htpasswd auth (Basic). Credentials come from
 * docker config files, REGISTRY_AUTH_FILE and credential helpers, exactly
 * where users keep them, and must never show up in output.
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findCredentials } from '../src/registry/credentials.js';
import { pull } from '../src/index.js';
import { isAirpackError } from '../src/errors.js';
import { startBlobServer, type BlobServerHandle } from './support/foreign-server.js';
import { seedStandardImages, type StandardFixtures } from './support/fixtures.js';
import { startRegistry, type RegistryHandle } from './support/registry.js';
import { startTokenServer, type TokenServerHandle } from './support/token-server.js';
import { makeTempDir, removeDir, run } from './support/util.js';

const USER = 'field-engineer';
const PASSWORD = 's3cret-Pa55-do-not-print';
let dir: string;
let blobServer: BlobServerHandle;

function dockerConfig(host: string, password = PASSWORD): string {
  return JSON.stringify({ auths: { [host]: { auth: Buffer.from(`${USER}:${password}`).toString('base64') } } });
}

beforeAll(async () => {
  dir = await makeTempDir('airpack-auth-');
  blobServer = await startBlobServer();
});

afterAll(async () => {
  await blobServer?.stop();
  if (dir) await removeDir(dir);
});

describe('Bearer token auth (registry token auth + token server)', () => {
  let tokens: TokenServerHandle;
  let registry: RegistryHandle;
  let fx: StandardFixtures;

  beforeAll(async () => {
    tokens = await startTokenServer({ users: { [USER]: PASSWORD }, service: 'airpack-test-registry', anonymousPull: ['library/single'] });
    registry = await startRegistry({ token: tokens });
    fx = await seedStandardImages(registry, blobServer, { username: USER, password: PASSWORD });
  }, 60_000);

  afterAll(async () => {
    await registry?.stop();
    await tokens?.stop();
  });

  it('pulls anonymously where the token server allows it', async () => {
    const before = tokens.requests.length;
    await pull({ images: [fx.single.ref], output: join(dir, 'anon.tar'), registry: { credentials: async () => undefined } });
    const mine = tokens.requests.slice(before);
    expect(mine.length).toBeGreaterThan(0);
    expect(mine.every((r) => r.user === undefined && r.status === 200)).toBe(true);
    expect(mine[0]!.scope).toEqual(['repository:library/single:pull']);
  });

  it('refuses anonymous access to a private repository with a clear error', async () => {
    const err = await pull({ images: [fx.sharedA.ref], output: join(dir, 'private.tar'), registry: { credentials: async () => undefined } }).catch((e: unknown) => e);
    expect(isAirpackError(err)).toBe(true);
    expect((err as { code: string }).code).toMatch(/UNAUTHORIZED|DENIED/);
    expect((err as Error).message).toContain('library/shared-a');
  });

  it('uses credentials from $DOCKER_CONFIG/config.json for the token flow', async () => {
    const cfg = join(dir, 'docker-token');
    await mkdir(cfg, { recursive: true });
    await writeFile(join(cfg, 'config.json'), dockerConfig(fx.host));
    const creds = await findCredentials(fx.host, { DOCKER_CONFIG: cfg });
    const before = tokens.requests.length;
    await pull({ images: [fx.sharedA.ref], output: join(dir, 'token.tar'), registry: { credentials: async () => creds } });
    const mine = tokens.requests.slice(before);
    expect(mine.some((r) => r.user === USER && r.status === 200)).toBe(true);
  });

  it('says the credentials were refused, without printing them (CLI, exit 3)', async () => {
    const cfg = join(dir, 'docker-bad');
    await mkdir(cfg, { recursive: true });
    await writeFile(join(cfg, 'config.json'), dockerConfig(fx.host, `${PASSWORD}-wrong`));
    const res = await run('node', ['bin/airpack.js', 'pull', fx.sharedA.ref, '-o', join(dir, 'bad.tar')], {
      env: { ...process.env, DOCKER_CONFIG: cfg },
      cwd: join(__dirname, '..'),
    });
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(/refused the credentials/);
    expect(res.stderr + res.stdout).not.toContain(PASSWORD);
  });
});

describe('Basic auth (registry htpasswd)', () => {
  let registry: RegistryHandle;
  let fx: StandardFixtures;

  beforeAll(async () => {
    registry = await startRegistry({ htpasswd: { username: USER, password: PASSWORD } });
    fx = await seedStandardImages(registry, blobServer, { username: USER, password: PASSWORD });
  }, 60_000);

  afterAll(async () => registry?.stop());

  it('reads REGISTRY_AUTH_FILE (podman/skopeo auth.json) and pulls', async () => {
    const authFile = join(dir, 'auth.json');
    await writeFile(authFile, dockerConfig(fx.host));
    const res = await run('node', ['bin/airpack.js', 'pull', fx.single.ref, '-o', join(dir, 'basic.tar'), '--json'], {
      env: { ...process.env, REGISTRY_AUTH_FILE: authFile, DOCKER_CONFIG: join(dir, 'nothing-here') },
      cwd: join(__dirname, '..'),
    });
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout).images[0].sourceDigest).toBe(fx.single.manifest.digest);
  });

  it('runs a credHelpers program (docker-credential-<name> get) for the host', async () => {
    const bin = join(dir, 'bin');
    await mkdir(bin, { recursive: true });
    const helper = join(bin, 'docker-credential-airpacktest');
    await writeFile(helper, `#!/bin/sh\nread host\n[ "$1" = get ] && [ "$host" = "${fx.host}" ] && printf '{"Username":"${USER}","Secret":"${PASSWORD}"}' && exit 0\necho "credentials not found in native keychain"; exit 1\n`);
    await chmod(helper, 0o755);
    const cfg = join(dir, 'docker-helper');
    await mkdir(cfg, { recursive: true });
    await writeFile(join(cfg, 'config.json'), JSON.stringify({ credHelpers: { [fx.host]: 'airpacktest' } }));
    const res = await run('node', ['bin/airpack.js', 'pull', fx.sharedB.ref, '-o', join(dir, 'helper.tar')], {
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, DOCKER_CONFIG: cfg },
      cwd: join(__dirname, '..'),
    });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain('wrote');
    expect(res.stdout + res.stderr).not.toContain(PASSWORD);
  });

  it('a credential helper that fails, crashes or prints junk: exit 3 naming it and how, never its output (which may hold the secret)', async () => {
    const bin = join(dir, 'bin-bad');
    await mkdir(bin, { recursive: true });
    const b64 = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');
    const helpers: Record<string, [string, RegExp]> = {
      // Exits non-zero after printing the secret to stderr (a debug line).
      fails: [`echo "debug: trying ${PASSWORD} ${b64}" >&2; exit 3`, /failed: exit code 3/],
      // Killed by a signal half way, the secret already on stderr.
      crashes: [`echo "debug: ${PASSWORD} ${b64}" >&2; kill -9 $$`, /failed: killed by SIGKILL/],
      // Prints something that is not JSON but holds the secret.
      junk: [`echo "Secret=${PASSWORD} ${b64}"; exit 0`, /output is not JSON/],
    };
    for (const [name, [body, message]] of Object.entries(helpers)) {
      const helper = join(bin, `docker-credential-bad${name}`);
      await writeFile(helper, `#!/bin/sh\nread host\n${body}\n`);
      await chmod(helper, 0o755);
      const cfg = join(dir, `docker-helper-${name}`);
      await mkdir(cfg, { recursive: true });
      await writeFile(join(cfg, 'config.json'), JSON.stringify({ credHelpers: { [fx.host]: `bad${name}` } }));
      for (const extra of [[], ['--json'], ['--progress', 'plain']]) {
        const res = await run('node', ['bin/airpack.js', 'pull', fx.sharedB.ref, '-o', join(dir, `helper-${name}.tar`), ...extra], {
          env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, DOCKER_CONFIG: cfg },
          cwd: join(__dirname, '..'),
        });
        expect({ name, extra, code: res.code }).toEqual({ name, extra, code: 3 });
        expect(res.stderr).toContain(`docker-credential-bad${name}`);
        expect(res.stderr).toMatch(message);
        for (const secret of [PASSWORD, b64]) expect(res.stdout + res.stderr).not.toContain(secret);
      }
    }
  });

  it('wrong credentials on an htpasswd registry: exit 3, said so, neither password nor its base64 in any output mode', async () => {
    const wrong = `${PASSWORD}-wrong`;
    const authFile = join(dir, 'auth-wrong.json');
    await writeFile(authFile, dockerConfig(fx.host, wrong));
    for (const extra of [[], ['--json'], ['--progress', 'plain'], ['--progress', 'tty']]) {
      const res = await run('node', ['bin/airpack.js', 'pull', fx.single.ref, '-o', join(dir, 'wrong.tar'), ...extra], {
        env: { ...process.env, REGISTRY_AUTH_FILE: authFile, DOCKER_CONFIG: join(dir, 'nothing-here') },
        cwd: join(__dirname, '..'),
      });
      expect({ extra, code: res.code }).toEqual({ extra, code: 3 });
      expect(res.stderr).toMatch(/refused the credentials/);
      for (const secret of [wrong, PASSWORD, Buffer.from(`${USER}:${wrong}`).toString('base64')]) expect(res.stdout + res.stderr).not.toContain(secret);
    }
  });

  it('fails with 401 and exit 3 without credentials', async () => {
    const res = await run('node', ['bin/airpack.js', 'pull', fx.single.ref, '-o', join(dir, 'none.tar')], {
      env: { ...process.env, DOCKER_CONFIG: join(dir, 'nothing-here'), REGISTRY_AUTH_FILE: '' },
      cwd: join(__dirname, '..'),
    });
    expect(res.code).toBe(3);
    expect(res.stderr).toContain(`${fx.host}/library/single`);
  });
});
