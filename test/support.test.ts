/**
 * Self-test of the test-support code: every helper is exercised against the
 * real programs (docker-registry, skopeo, containerd) it stands in front of.
 * If this file fails, no other test's verdict can be trusted.
 */
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaType } from '../src/spec/media-types.js';
import { startContainerd, type ContainerdHandle } from './support/containerd.js';
import {
  AttestationAnnotation,
  basicHeader,
  makeLayer,
  parseChallenge,
  pushBlob,
  registryFetch,
  seedStandardImages,
  seededBytes,
  sha256,
  WINDOWS_VERSIONS,
  type StandardFixtures,
} from './support/fixtures.js';
import { startBlobServer, type BlobServerHandle } from './support/foreign-server.js';
import { startRegistry, type RegistryHandle } from './support/registry.js';
import { parseScope, startTokenServer, type TokenServerHandle } from './support/token-server.js';
import { makeTempDir, removeDir, run } from './support/util.js';

const HOOK_TIMEOUT = 30_000;

/** `skopeo inspect --raw` of a reference on a plain-HTTP loopback registry. */
async function skopeoRaw(ref: string): Promise<Buffer> {
  const res = await run('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${ref}`]);
  if (res.code !== 0) throw new Error(`skopeo inspect ${ref}: ${res.stderr}`);
  // skopeo prints the manifest bytes exactly as served.
  return Buffer.from(res.stdout, 'utf8');
}

interface IndexJson {
  mediaType: string;
  manifests: Array<{
    mediaType: string;
    digest: string;
    platform?: { os: string; architecture: string; variant?: string; 'os.version'?: string; 'os.features'?: string[] };
    annotations?: Record<string, string>;
  }>;
}

describe('fixtures', () => {
  it('seededBytes and makeLayer are deterministic', async () => {
    expect(seededBytes('a', 100)).toEqual(seededBytes('a', 100));
    expect(seededBytes('a', 100)).not.toEqual(seededBytes('b', 100));
    expect(seededBytes('a', 1000).subarray(0, 100)).toEqual(seededBytes('a', 100));
    const files = { 'etc/x': Buffer.from('x'), 'usr/bin/y': seededBytes('y', 5000) };
    const [l1, l2] = [await makeLayer(files), await makeLayer(files)];
    expect(l1.digest).toBe(l2.digest);
    expect(l1.diffId).toBe(sha256(l1.tar));
    expect(l1.size).toBe(l1.blob.length);
    const plain = await makeLayer(files, { gzip: false });
    expect(plain.digest).toBe(l1.diffId);
    expect(plain.compressed).toBe(false);
  });

  it('makeLayer writes a real tar with parent directories (bsdtar lists it)', async () => {
    const dir = await makeTempDir('selftest');
    try {
      const layer = await makeLayer({ 'Files/Windows/System32/a.dll': Buffer.from('a'), 'Hives/Sam_Delta': Buffer.from('b') });
      const path = join(dir, 'layer.tar.gz');
      await writeFile(path, layer.blob);
      const res = await run('bsdtar', ['-tvf', path]);
      expect(res.code).toBe(0);
      const names = res.stdout.trim().split('\n').map((l) => l.split(/\s+/).pop());
      expect(names).toEqual(['Files/', 'Files/Windows/', 'Files/Windows/System32/', 'Files/Windows/System32/a.dll', 'Hives/', 'Hives/Sam_Delta']);
    } finally {
      await removeDir(dir);
    }
  });
});

describe('open registry with the standard fixtures', () => {
  let registry: RegistryHandle;
  let blobs: BlobServerHandle;
  let fx: StandardFixtures;
  let containerd: ContainerdHandle | undefined;
  let tmp: string;

  beforeAll(async () => {
    tmp = await makeTempDir('selftest');
    [registry, blobs] = await Promise.all([startRegistry(), startBlobServer()]);
    fx = await seedStandardImages(registry, blobs);
  }, HOOK_TIMEOUT);

  afterAll(async () => {
    await Promise.allSettled([registry?.stop(), blobs?.stop(), containerd?.stop()]);
    if (tmp) await removeDir(tmp);
  }, HOOK_TIMEOUT);

  it('serves /v2/ on 127.0.0.1', async () => {
    expect(registry.host).toMatch(/^127\.0\.0\.1:\d+$/);
    const res = await fetch(`${registry.url}/v2/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
  });

  it('library/multi:1.0 is an OCI index with 3 platforms and 2 attestations (skopeo sees it)', async () => {
    const raw = await skopeoRaw(fx.multi.ref);
    expect(sha256(raw)).toBe(fx.multi.index.digest);
    const index = JSON.parse(raw.toString()) as IndexJson;
    expect(index.mediaType).toBe(MediaType.ociIndex);
    expect(index.manifests.map((m) => `${m.platform?.os}/${m.platform?.architecture}/${m.platform?.variant ?? ''}`)).toEqual([
      'linux/amd64/',
      'linux/arm64/v8',
      'linux/arm/v7',
      'unknown/unknown/',
      'unknown/unknown/',
    ]);
    const atts = index.manifests.filter((m) => m.annotations?.[AttestationAnnotation.referenceType] === 'attestation-manifest');
    expect(atts.map((a) => a.annotations?.[AttestationAnnotation.referenceDigest])).toEqual([
      fx.multi.images[0]!.manifest.digest,
      fx.multi.images[1]!.manifest.digest,
    ]);
    expect(Object.keys(fx.multi.byPlatform)).toEqual(['linux/amd64', 'linux/arm64/v8', 'linux/arm/v7']);
  });

  it('library/dockerlist:2.0 is a Docker manifest list, arm64 without variant', async () => {
    const index = JSON.parse((await skopeoRaw(fx.dockerlist.ref)).toString()) as IndexJson;
    expect(index.mediaType).toBe(MediaType.dockerManifestList);
    expect(index.manifests.map((m) => m.platform)).toEqual([
      { architecture: 'amd64', os: 'linux' },
      { architecture: 'arm64', os: 'linux' },
    ]);
    const child = fx.dockerlist.images[1]!;
    expect(child.manifest.mediaType).toBe(MediaType.dockerManifest);
    expect(child.config.mediaType).toBe(MediaType.dockerConfig);
    expect(child.layers[0]!.mediaType).toBe(MediaType.dockerLayerGzip);
  });

  it('windows/servercore:ltsc has 4 windows children with foreign base layers on the blob server', async () => {
    const index = JSON.parse((await skopeoRaw(fx.windows.ref)).toString()) as IndexJson;
    expect(index.mediaType).toBe(MediaType.dockerManifestList);
    const win = index.manifests.filter((m) => m.platform?.os === 'windows');
    expect(win.map((m) => m.platform?.['os.version'])).toEqual(Object.values(WINDOWS_VERSIONS));
    expect(win.every((m) => m.platform?.['os.features']?.[0] === 'win32k')).toBe(true);
    expect(index.manifests.filter((m) => m.platform?.os === 'linux')).toHaveLength(1);

    for (const child of Object.values(fx.windows.byOsVersion)) {
      const config = JSON.parse(child.config.body.toString()) as Record<string, unknown>;
      expect(config['os.version']).toBe(child.osVersion);
      const [base, app] = child.layers;
      expect(base?.mediaType).toBe(MediaType.dockerForeignLayerGzip);
      expect(base?.foreign).toBe(true);
      expect(app?.foreign).toBe(false);
      // The registry never saw the foreign blob; the URL serves exactly it.
      const head = await fetch(`${registry.url}/v2/${fx.windows.repo}/blobs/${base!.digest}`, { method: 'HEAD' });
      expect(head.status).toBe(404);
      const got = Buffer.from(await (await fetch(base!.urls![0]!)).arrayBuffer());
      expect(sha256(got)).toBe(base!.digest);
    }
    // The tar holds Windows-shaped paths.
    const res = await run('bsdtar', ['-tf', '-'], { input: fx.windows.byOsVersion[WINDOWS_VERSIONS.ltsc2022]!.layers[0]!.blob });
    expect(res.stdout).toContain('Files/Windows/System32/ntdll.dll');
    expect(res.stdout).toContain('Hives/Software_Delta');
  });

  it('library/single:latest is a single OCI manifest; shared-a and shared-b share a layer', async () => {
    const raw = await skopeoRaw(fx.single.ref);
    expect(sha256(raw)).toBe(fx.single.manifest.digest);
    expect((JSON.parse(raw.toString()) as { mediaType: string }).mediaType).toBe(MediaType.ociManifest);
    expect(fx.sharedA.layers[0]!.digest).toBe(fx.sharedLayerDigest);
    expect(fx.sharedB.layers[0]!.digest).toBe(fx.sharedLayerDigest);
    expect(fx.sharedA.manifest.digest).not.toBe(fx.sharedB.manifest.digest);
  });

  it('blob server: Range, hits, injected failures and resume after a dropped body', async () => {
    const data = seededBytes('range', 10_000);
    blobs.put('/r/blob', data);
    const full = await fetch(`${blobs.url}/r/blob`);
    expect(full.status).toBe(200);
    expect(Buffer.from(await full.arrayBuffer())).toEqual(data);

    const part = await fetch(`${blobs.url}/r/blob`, { headers: { Range: 'bytes=4000-' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe('bytes 4000-9999/10000');
    expect(Buffer.from(await part.arrayBuffer())).toEqual(data.subarray(4000));

    blobs.failNext('/r/blob', '500');
    blobs.failNext('/r/blob', '429');
    expect((await fetch(`${blobs.url}/r/blob`)).status).toBe(500);
    const limited = await fetch(`${blobs.url}/r/blob`);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('0');

    // A dropped body: headers promise 10000 bytes, the socket dies halfway.
    blobs.failNext('/r/blob', 'drop-mid-body');
    const dropped = await fetch(`${blobs.url}/r/blob`);
    expect(dropped.status).toBe(200);
    const received: Buffer[] = [];
    await expect(
      (async () => {
        for await (const chunk of dropped.body!) received.push(Buffer.from(chunk));
      })(),
    ).rejects.toThrow();
    const have = Buffer.concat(received);
    expect(have.length).toBeGreaterThan(0);
    expect(have.length).toBeLessThan(data.length);
    const rest = await fetch(`${blobs.url}/r/blob`, { headers: { Range: `bytes=${have.length}-` } });
    expect(Buffer.concat([have, Buffer.from(await rest.arrayBuffer())])).toEqual(data);

    expect(blobs.hits.get('/r/blob')).toBe(6);
    expect((await fetch(`${blobs.url}/nope`)).status).toBe(404);
  });

  it('containerd imports a skopeo docker-archive (linux, then windows with --platform)', async () => {
    containerd = await startContainerd();

    const linuxTar = join(tmp, 'single.tar');
    const copy = await run('skopeo', ['copy', '--src-tls-verify=false', `docker://${fx.single.ref}`, `docker-archive:${linuxTar}:library/single:latest`]);
    expect(copy.stderr).toBe('');
    const imported = await containerd.importArchive(linuxTar);
    expect(imported.stderr).toBe('');
    expect(imported.code).toBe(0);

    // skopeo fetches the foreign base layer from its URL for a docker-archive.
    const win = fx.windows.byOsVersion[WINDOWS_VERSIONS.ltsc2022]!;
    const foreignPath = fx.windows.foreignPaths[win.layers[0]!.digest]!;
    const hitsBefore = blobs.hits.get(foreignPath) ?? 0;
    const winTar = join(tmp, 'win.tar');
    const winCopy = await run('skopeo', [
      'copy',
      '--src-tls-verify=false',
      `docker://${registry.host}/${fx.windows.repo}@${win.manifest.digest}`,
      `docker-archive:${winTar}:windows/servercore:ltsc2022`,
    ]);
    expect(winCopy.code, winCopy.stderr).toBe(0);
    expect(blobs.hits.get(foreignPath)).toBe(hitsBefore + 1);

    const filtered = await containerd.importArchive(winTar);
    expect(filtered.code).toBe(1);
    expect(filtered.stderr).toContain('image might be filtered out');
    const winImported = await containerd.importArchive(winTar, { platform: 'windows/amd64' });
    expect(winImported.code, winImported.stderr).toBe(0);

    const images = await containerd.listImages();
    expect(images).toContainEqual(
      expect.objectContaining({ name: 'docker.io/library/single:latest', type: MediaType.dockerManifest, platforms: ['linux/amd64'] }),
    );
    expect(images).toContainEqual(expect.objectContaining({ name: 'docker.io/windows/servercore:ltsc2022', platforms: ['windows/amd64'] }));
  });
});

describe('token-auth registry', () => {
  let tokens: TokenServerHandle;
  let registry: RegistryHandle;
  let blobs: BlobServerHandle;
  let fx: StandardFixtures;
  const alice = { username: 'alice', password: 'wonderland' };

  beforeAll(async () => {
    tokens = await startTokenServer({ users: { alice: alice.password }, service: 'airpack-test-registry', anonymousPull: ['library/single'] });
    [registry, blobs] = await Promise.all([startRegistry({ token: tokens }), startBlobServer()]);
    fx = await seedStandardImages(registry, blobs, alice);
  }, HOOK_TIMEOUT);

  afterAll(async () => {
    await Promise.allSettled([registry?.stop(), blobs?.stop(), tokens?.stop()]);
  }, HOOK_TIMEOUT);

  it('challenges with Bearer realm/service', async () => {
    const res = await fetch(`${registry.url}/v2/`);
    expect(res.status).toBe(401);
    const challenge = parseChallenge(res.headers.get('www-authenticate') ?? '');
    expect(challenge).toEqual({ scheme: 'bearer', params: { realm: tokens.realm, service: 'airpack-test-registry' } });
  });

  it('pulls with credentials through the token flow (plain fetch, step by step)', async () => {
    const url = `${registry.url}/v2/library/multi/manifests/1.0`;
    const accept = { Accept: MediaType.ociIndex };
    const first = await fetch(url, { headers: accept });
    expect(first.status).toBe(401);
    const { params } = parseChallenge(first.headers.get('www-authenticate') ?? '')!;
    expect(params.scope).toBe('repository:library/multi:pull');

    const tokenUrl = `${params.realm}?service=${encodeURIComponent(params.service!)}&scope=${encodeURIComponent(params.scope!)}`;
    const tokenRes = await fetch(tokenUrl, { headers: { Authorization: basicHeader(alice) } });
    expect(tokenRes.status).toBe(200);
    const body = (await tokenRes.json()) as { token: string; access_token: string; expires_in: number; issued_at: string };
    expect(body.access_token).toBe(body.token);
    expect(body.expires_in).toBeGreaterThan(0);

    const second = await fetch(url, { headers: { ...accept, Authorization: `Bearer ${body.token}` } });
    expect(second.status).toBe(200);
    expect(sha256(Buffer.from(await second.arrayBuffer()))).toBe(fx.multi.index.digest);
    expect(tokens.requests).toContainEqual(expect.objectContaining({ user: 'alice', scope: ['repository:library/multi:pull'], status: 200 }));

    // The registry really checks the signature: a token with a flipped signature byte is refused.
    const [h, c, sig] = body.token.split('.');
    const bad = Buffer.from(sig!, 'base64url');
    bad[0] = bad[0]! ^ 0xff;
    const forged = await fetch(url, { headers: { ...accept, Authorization: `Bearer ${h}.${c}.${bad.toString('base64url')}` } });
    expect(forged.status).toBe(401);
  });

  it('refuses a wrong password at the token server', async () => {
    const res = await fetch(`${tokens.realm}?service=airpack-test-registry&scope=repository:library/multi:pull`, {
      headers: { Authorization: basicHeader({ username: 'alice', password: 'nope' }) },
    });
    expect(res.status).toBe(401);
    expect(tokens.requests.at(-1)).toEqual(expect.objectContaining({ user: 'alice', status: 401 }));
  });

  it('lets anonymous pull only the anonymousPull repos, and never push', async () => {
    const pub = await registryFetch(`${registry.url}/v2/library/single/manifests/latest`, { headers: { Accept: MediaType.ociManifest } });
    expect(pub.status).toBe(200);
    const priv = await registryFetch(`${registry.url}/v2/library/multi/manifests/1.0`, { headers: { Accept: MediaType.ociIndex } });
    expect(priv.status).toBe(401);
    await expect(pushBlob(registry.url, 'library/single', Buffer.from('anonymous'))).rejects.toThrow(/HTTP 401/);
    const anon = tokens.requests.filter((r) => r.user === undefined);
    // distribution 2.8 builds the challenge scope from a Go map: "pull,push" or "push,pull".
    const askedPush = anon.filter((r) => r.scope.some((s) => parseScope(s)?.actions.includes('push')));
    expect(askedPush.length).toBeGreaterThan(0);
    expect(askedPush.every((r) => r.granted.length === 1 && r.granted[0]?.actions.join() === 'pull')).toBe(true);
  });

  it('skopeo pulls with --creds through the token server', async () => {
    const res = await run('skopeo', ['inspect', '--tls-verify=false', '--raw', '--creds', 'alice:wonderland', `docker://${fx.windows.ref}`]);
    expect(res.code, res.stderr).toBe(0);
  });
});

describe('htpasswd registry', () => {
  let registry: RegistryHandle;
  const bob = { username: 'bob', password: 's3cret:with colon' };

  beforeAll(async () => {
    registry = await startRegistry({ htpasswd: bob });
  }, HOOK_TIMEOUT);

  afterAll(async () => {
    await registry?.stop();
  }, HOOK_TIMEOUT);

  it('answers 401 without credentials, 200 with the right ones', async () => {
    const anon = await fetch(`${registry.url}/v2/`);
    expect(anon.status).toBe(401);
    expect(parseChallenge(anon.headers.get('www-authenticate') ?? '')?.scheme).toBe('basic');
    expect((await fetch(`${registry.url}/v2/`, { headers: { Authorization: basicHeader(bob) } })).status).toBe(200);
    expect((await fetch(`${registry.url}/v2/`, { headers: { Authorization: basicHeader({ ...bob, password: 'x' }) } })).status).toBe(401);
  });

  it('accepts a push with Basic auth through registryFetch', async () => {
    const { digest } = await pushBlob(registry.url, 'library/basic', seededBytes('basic', 1000), bob);
    const res = await registryFetch(`${registry.url}/v2/library/basic/blobs/${digest}`, { method: 'HEAD' }, { auth: bob });
    expect(res.status).toBe(200);
  });
});

describe('teardown', () => {
  it('registry stop() kills it and removes its temp dir', async () => {
    const registry = await startRegistry();
    await registry.stop();
    await expect(stat(registry.storageDir)).rejects.toThrow(/ENOENT/);
    await expect(fetch(`${registry.url}/v2/`)).rejects.toThrow();
  });
});
