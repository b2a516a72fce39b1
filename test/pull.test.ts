/**
 * `pull` against a real registry (Debian's docker-registry on 127.0.0.1),
 * with foreign Windows layers on a second loopback server, checked by real
 * loaders: bsdtar, skopeo and containerd's `ctr images import`.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle, pull } from '../src/index.js';
import { isAirpackError } from '../src/errors.js';
import type { Descriptor, DockerManifestEntry, ImageConfig, ImageIndex, ImageManifest } from '../src/spec/types.js';
import type { BlobServerHandle } from './support/foreign-server.js';
import { WINDOWS_VERSIONS, type ImageLayer, type StandardFixtures } from './support/fixtures.js';
import type { RegistryHandle } from './support/registry.js';
import { run } from './support/util.js';
import { startWorld, type World } from './helpers/world.js';
import { blobEntry, entryJson, readTar } from './helpers/tar.js';

let world: World;
let registry: RegistryHandle;
let blobServer: BlobServerHandle;
let fx: StandardFixtures;
let dir: string;

beforeAll(async () => {
  world = await startWorld('airpack-pull-');
  ({ registry, blobServer, fx, dir } = world);
}, 60_000);

afterAll(() => world?.stop());

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** The foreign base layer of the Windows child with `osVersion`, and the path the blob server serves it at. */
function foreignLayerOf(osVersion: string): { foreign: ImageLayer; path: string } {
  const foreign = fx.windows.byOsVersion[osVersion]!.layers.find((l) => l.foreign)!;
  return { foreign, path: fx.windows.foreignPaths[foreign.digest]! };
}

/** The blob server's requests for `path` from the `before`-th on. */
function requestsSince(before: number, path: string): BlobServerHandle['requests'] {
  return blobServer.requests.slice(before).filter((r) => r.path === path);
}

describe('pull: Windows ltsc2022 out of a Linux + 1809 + ltsc2022 + ltsc2025 index', () => {
  let out: string;
  let result: Awaited<ReturnType<typeof pull>>;

  beforeAll(async () => {
    out = join(dir, 'win.tar');
    result = await pull({ images: [fx.windows.ref], platforms: ['windows/amd64:ltsc2022'], output: out });
  }, 60_000);

  it('picks the highest ltsc2022 revision, by its config', async () => {
    const want = fx.windows.byOsVersion[WINDOWS_VERSIONS.ltsc2022]!;
    expect(result.images).toHaveLength(1);
    expect(result.images[0]!.sourceDigest).toBe(want.manifest.digest);
    const entries = await readTar(out);
    const config = JSON.parse(blobEntry(entries, want.config.digest)!.toString()) as ImageConfig;
    expect(config['os.version']).toBe('10.0.20348.2227');
    expect(config.os).toBe('windows');
  });

  it('includes the foreign layer, fetched from its URL and verified', async () => {
    const want = fx.windows.byOsVersion[WINDOWS_VERSIONS.ltsc2022]!;
    const foreign = want.layers.find((l) => l.foreign)!;
    const entries = await readTar(out);
    const bytes = blobEntry(entries, foreign.digest);
    expect(bytes).toBeDefined();
    expect(sha256(bytes!)).toBe(foreign.digest);
    expect(blobServer.hits.get(fx.windows.foreignPaths[foreign.digest]!)).toBeGreaterThanOrEqual(1);
  });

  it('puts manifest.json first, then index.json and oci-layout (bsdtar -tf)', async () => {
    const { stdout } = await run('bsdtar', ['-tf', out]);
    const names = stdout.trim().split('\n');
    expect(names.slice(0, 3)).toEqual(['manifest.json', 'index.json', 'oci-layout']);
    const firstLayer = names.findIndex((n) => n.startsWith('blobs/sha256/') && n.length > 20);
    expect(firstLayer).toBeGreaterThan(2);
  });

  it('is read by skopeo as docker-archive and as oci-archive', async () => {
    const docker = await run('skopeo', ['inspect', `docker-archive:${out}`]);
    expect(docker.code, docker.stderr).toBe(0);
    const d = JSON.parse(docker.stdout) as { Os: string; Architecture: string; Layers: string[] };
    expect(d.Os).toBe('windows');
    const oci = await run('skopeo', ['inspect', `oci-archive:${out}`]);
    expect(oci.code, oci.stderr).toBe(0);
    expect((JSON.parse(oci.stdout) as { Os: string }).Os).toBe('windows');
  });

  it('writes the same bytes on a second run', async () => {
    const again = join(dir, 'win-again.tar');
    await pull({ images: [fx.windows.ref], platforms: ['windows/amd64:ltsc2022'], output: again });
    expect(sha256(await readFile(again))).toBe(sha256(await readFile(out)));
  });
});

describe('pull: platforms, names and shapes', () => {
  it('gathers two platforms of one reference under an OCI index and skips attestations', async () => {
    const out = join(dir, 'multi.tar');
    const result = await pull({ images: [fx.multi.ref], platforms: ['linux/amd64', 'linux/arm64'], output: out });
    expect(result.images.map((i) => i.platform)).toEqual(['linux/amd64', 'linux/arm64']);
    expect(result.images[1]!.sourceDigest).toBe(fx.multi.byPlatform['linux/arm64/v8']!.manifest.digest);
    const entries = await readTar(out);
    const index = entryJson<ImageIndex>(entries, 'index.json');
    expect(index.manifests).toHaveLength(1);
    const nested = JSON.parse(blobEntry(entries, index.manifests[0]!.digest)!.toString()) as ImageIndex;
    expect(nested.manifests.map((m) => m.platform?.architecture)).toEqual(['amd64', 'arm64']);
    expect(index.manifests[0]!.annotations?.['io.containerd.image.name']).toBe(`${fx.host}/library/multi:1.0`);
    const docker = entryJson<DockerManifestEntry[]>(entries, 'manifest.json');
    expect(docker).toHaveLength(2);
    for (const att of fx.multi.attestations) expect(blobEntry(entries, att.manifest.digest)).toBeUndefined();
  });

  it('keeps the source list byte for byte when every child is pulled, and skopeo and podman load read it', async () => {
    const out = join(dir, 'whole-list.tar');
    const result = await pull({ images: [fx.dockerlist.ref], platforms: ['linux/amd64', 'linux/arm64'], output: out });
    expect(result.images.map((i) => i.indexDigest)).toEqual([fx.dockerlist.index.digest, fx.dockerlist.index.digest]);
    const entries = await readTar(out);
    const index = entryJson<ImageIndex>(entries, 'index.json');
    expect(index.manifests).toEqual([
      { mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json', digest: fx.dockerlist.index.digest, size: fx.dockerlist.index.size, annotations: { 'io.containerd.image.name': `${fx.host}/library/dockerlist:2.0`, 'org.opencontainers.image.ref.name': '2.0' } },
    ]);
    expect(blobEntry(entries, fx.dockerlist.index.digest)?.equals(fx.dockerlist.index.body)).toBe(true);
    expect(entryJson<DockerManifestEntry[]>(entries, 'manifest.json')).toHaveLength(2);
    const oci = await run('skopeo', ['inspect', '--override-arch', 'arm64', `oci-archive:${out}`]);
    expect(oci.code, oci.stderr).toBe(0);
    expect(JSON.parse(oci.stdout)).toMatchObject({ Digest: fx.dockerlist.index.digest, Architecture: 'arm64' });
    // podman wants a runroot of at most 50 characters.
    const store = await mkdtemp('/tmp/apl-');
    try {
      const args = ['--storage-driver', 'vfs', '--root', join(store, 'root'), '--runroot', join(store, 'run')];
      const loaded = await run('podman', [...args, 'load', '-i', out]);
      expect(loaded.code, loaded.stderr).toBe(0);
      const digest = await run('podman', [...args, 'image', 'inspect', '--format', '{{.Digest}}', `${fx.host}/library/dockerlist:2.0`]);
      expect(digest.stdout.trim()).toBe(fx.dockerlist.index.digest);
    } finally {
      await rm(store, { recursive: true, force: true });
    }
  });

  it('treats linux/arm64/v8 and a variant-less arm64 child as the same platform (Docker list)', async () => {
    const out = join(dir, 'dockerlist.tar');
    const result = await pull({ images: [fx.dockerlist.ref], platforms: ['linux/arm64/v8'], output: out });
    expect(result.images[0]!.sourceDigest).toBe(fx.dockerlist.byPlatform['linux/arm64']!.manifest.digest);
  });

  it('gives a digest-only reference no invented tag', async () => {
    const out = join(dir, 'digest.tar');
    const ref = `${fx.host}/library/multi@${fx.multi.index.digest}`;
    await pull({ images: [ref], platforms: ['linux/arm/v7'], output: out });
    const entries = await readTar(out);
    expect(entryJson<DockerManifestEntry[]>(entries, 'manifest.json')[0]!.RepoTags).toEqual([]);
    const index = entryJson<ImageIndex>(entries, 'index.json');
    expect(index.manifests[0]!.annotations).toEqual({ 'io.containerd.image.name': ref });
    expect(JSON.stringify(entries.map((e) => e.data.toString('latin1')))).not.toContain('i-was-a-digest');
  });

  it('pulls name:tag@digest by the digest, keeping the tag as the name', async () => {
    const out = join(dir, 'tagdigest.tar');
    const ref = `${fx.host}/library/single:whatever@${fx.single.manifest.digest}`;
    const result = await pull({ images: [ref], output: out });
    expect(result.images[0]!.sourceDigest).toBe(fx.single.manifest.digest);
    const docker = entryJson<DockerManifestEntry[]>(await readTar(out), 'manifest.json');
    expect(docker[0]!.RepoTags).toEqual([`${fx.host}/library/single:whatever`]);
  });

  it('stores a layer shared by two images once', async () => {
    const out = join(dir, 'shared.tar');
    await pull({ images: [fx.sharedA.ref, fx.sharedB.ref], output: out });
    const entries = await readTar(out);
    const shared = entries.filter((e) => e.name === `blobs/sha256/${fx.sharedLayerDigest.slice(7)}`);
    expect(shared).toHaveLength(1);
    const docker = entryJson<DockerManifestEntry[]>(entries, 'manifest.json');
    expect(docker.map((d) => d.RepoTags)).toEqual([[`${fx.host}/library/shared-a:1`], [`${fx.host}/library/shared-b:1`]]);
  });

  it('names the image, the platform asked for and those available when one is missing', async () => {
    const out = join(dir, 'missing.tar');
    const err = await pull({ images: [fx.multi.ref], platforms: ['linux/s390x'], output: out }).catch((e: unknown) => e);
    expect(isAirpackError(err, 'PLATFORM_NOT_FOUND')).toBe(true);
    expect((err as Error).message).toContain(`${fx.host}/library/multi:1.0`);
    expect((err as Error).message).toContain('linux/s390x');
    expect((err as Error).message).toContain('available: linux/amd64, linux/arm64, linux/arm/v7');
    expect(existsSync(out)).toBe(false);
  });

  it('with skipMissing, warns and writes the images that do have the platform', async () => {
    const out = join(dir, 'skip.tar');
    const warnings: string[] = [];
    const result = await pull({
      images: [fx.single.ref, fx.windows.ref],
      platforms: ['windows/amd64:ltsc2025'],
      output: out,
      skipMissing: true,
      onProgress: (e) => e.type === 'warning' && warnings.push(e.message),
    });
    expect(result.images.map((i) => i.osVersion)).toEqual([WINDOWS_VERSIONS.ltsc2025]);
    expect(result.skipped).toEqual([{ reference: fx.single.ref, platform: 'windows/amd64:ltsc2025', available: ['linux/amd64'] }]);
    expect(warnings.join('\n')).toContain(fx.single.ref);
  });
});

describe('pull: uncompressed layers', () => {
  it('stores layer tars under their diff_ids with a manifest that points at them', async () => {
    const out = join(dir, 'uncompressed.tar');
    const result = await pull({ images: [fx.windows.ref], platforms: ['windows/amd64:1809'], output: out, layers: 'uncompressed' });
    const want = fx.windows.byOsVersion[WINDOWS_VERSIONS.ltsc2019]!;
    const entries = await readTar(out);
    const manifest = JSON.parse(blobEntry(entries, result.images[0]!.digest)!.toString()) as ImageManifest;
    expect(manifest.layers.map((l: Descriptor) => l.digest)).toEqual(want.layers.map((l) => l.diffId));
    expect(manifest.layers.every((l: Descriptor) => l.mediaType === 'application/vnd.docker.image.rootfs.diff.tar' && !l.urls)).toBe(true);
    for (const layer of want.layers) {
      const bytes = blobEntry(entries, layer.diffId)!;
      expect(bytes.equals(gunzipSync(layer.blob))).toBe(true);
    }
    const docker = await run('skopeo', ['inspect', `docker-archive:${out}`]);
    expect(docker.code, docker.stderr).toBe(0);
  });

  it('writes the same bytes straight into the output as through a kept blob store', async () => {
    const direct = join(dir, 'uncompressed.tar');
    const viaStore = join(dir, 'uncompressed-store.tar');
    await pull({ images: [fx.windows.ref], platforms: ['windows/amd64:1809'], output: viaStore, layers: 'uncompressed', cacheDir: join(dir, 'store-cache') });
    expect((await readdir(join(dir, 'store-cache'))).length).toBeGreaterThan(0);
    expect(sha256(await readFile(direct))).toBe(sha256(await readFile(viaStore)));
  });

  it('falls back to the blob store when a layer is several gzip members (its trailer predicts the wrong size)', async () => {
    const { makeImage, makeLayer, pushImage } = await import('./support/fixtures.js');
    const base = await makeLayer({ 'etc/motd': Buffer.from('hello\n'.repeat(5000)), 'bin/tool': Buffer.alloc(70_000, 7) });
    const half = 20 * 1024;
    const blob = Buffer.concat([gzipSync(base.tar.subarray(0, half)), gzipSync(base.tar.subarray(half))]);
    const image = makeImage({ os: 'linux', architecture: 'amd64', layers: [{ ...base, blob, digest: sha256(blob), size: blob.length }], manifestMediaType: 'oci' });
    await pushImage(registry.url, 'test/multimember', image, 'v1');
    const out = join(dir, 'multimember.tar');
    await pull({ images: [`${fx.host}/test/multimember:v1`], output: out, layers: 'uncompressed' });
    expect(blobEntry(await readTar(out), base.diffId)!.equals(base.tar)).toBe(true);
    expect((await readdir(dir)).filter((n) => n.startsWith('.multimember'))).toEqual([]);
  });
});

describe('pull: integrity', () => {
  it('refuses a blob whose bytes do not match its digest, names it, and leaves no output', async () => {
    // Corrupt one layer inside the registry's own storage: same size, other bytes.
    const victim = fx.sharedB.layers.find((l) => l.digest !== fx.sharedLayerDigest)!;
    const hex = victim.digest.slice(7);
    const dataPath = join(registry.storageDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    const original = await readFile(dataPath);
    const corrupted = Buffer.from(original);
    corrupted[corrupted.length - 10] = (corrupted[corrupted.length - 10] as number) ^ 0xff;
    await writeFile(dataPath, corrupted);
    try {
      const out = join(dir, 'corrupt.tar');
      const err = await pull({ images: [fx.sharedB.ref], output: out }).catch((e: unknown) => e);
      expect(isAirpackError(err, 'DIGEST_MISMATCH')).toBe(true);
      expect((err as Error).message).toContain(victim.digest);
      expect(existsSync(out)).toBe(false);
      expect((await readdir(dir)).filter((f) => f.includes('corrupt'))).toEqual([]);
    } finally {
      await writeFile(dataPath, original);
    }
  });

  it('resumes a foreign layer download that breaks mid-body with a Range request', async () => {
    const { foreign, path } = foreignLayerOf(WINDOWS_VERSIONS.ltsc2025);
    blobServer.failNext(path, 'drop-mid-body');
    const before = blobServer.requests.length;
    const out = join(dir, 'resume.tar');
    await pull({ images: [fx.windows.ref], platforms: ['windows/amd64:ltsc2025'], output: out });
    const mine = requestsSince(before, path);
    expect(mine.length).toBe(2);
    expect(mine[1]!.range).toMatch(/^bytes=[1-9]\d*-$/);
    expect(sha256(blobEntry(await readTar(out), foreign.digest)!)).toBe(foreign.digest);
  });

  it('resumes mid-body while decompressing straight into the output (uncompressed mode), diff_id checked', async () => {
    const { foreign, path } = foreignLayerOf(WINDOWS_VERSIONS.ltsc2019);
    // The first request reads the gzip trailer (the size prediction); the second, the body, breaks.
    blobServer.failNext(path, 'pass');
    blobServer.failNext(path, 'drop-mid-body');
    const before = blobServer.requests.length;
    const out = join(dir, 'resume-uncompressed.tar');
    await pull({ images: [fx.windows.ref], platforms: ['windows/amd64:1809'], output: out, layers: 'uncompressed' });
    const mine = requestsSince(before, path);
    expect(mine.map((r) => r.range)).toEqual([`bytes=${foreign.size - 4}-`, undefined, expect.stringMatching(/^bytes=[1-9]\d*-$/)]);
    expect(blobEntry(await readTar(out), foreign.diffId)!.equals(gunzipSync(foreign.blob))).toBe(true);
  });

  it('resumes mid-body through the blob store too (uncompressed mode with a cache dir)', async () => {
    const { foreign, path } = foreignLayerOf(WINDOWS_VERSIONS.ltsc2019);
    blobServer.failNext(path, 'drop-mid-body');
    const before = blobServer.requests.length;
    const out = join(dir, 'resume-uncompressed-store.tar');
    await pull({ images: [fx.windows.ref], platforms: ['windows/amd64:1809'], output: out, layers: 'uncompressed', cacheDir: join(dir, 'resume-cache') });
    const mine = requestsSince(before, path);
    expect(mine.map((r) => r.range !== undefined)).toEqual([false, true]);
    // Both paths write the same archive.
    expect(sha256(await readFile(out))).toBe(sha256(await readFile(join(dir, 'resume-uncompressed.tar'))));
  });

  it('retries a 500 and a 429 from the foreign layer server', async () => {
    const { path } = foreignLayerOf(WINDOWS_VERSIONS.ltsc2022Old);
    blobServer.failNext(path, '500');
    blobServer.failNext(path, '429');
    const before = blobServer.requests.length;
    await pull({ images: [fx.windows.ref], platforms: ['windows/amd64:10.0.20348.2113'], output: join(dir, 'retry.tar') });
    const outcomes = requestsSince(before, path).map((r) => r.outcome);
    expect(outcomes).toEqual([500, 429, 200]);
  });
});

describe('a registry that stalls', () => {
  // A proxy that relays the head and the first bytes of a layer's body, then sends nothing: a hang, unless cut.
  it('cuts a body that sends nothing, resumes it, and fails with a clear error when it never comes', async () => {
    const { startFaultProxy } = await import('./support/fault-proxy.js');
    const layer = fx.single.layers[fx.single.layers.length - 1]!;
    let stalls = 2;
    const proxy = await startFaultProxy(registry.url, (req) => (req.method === 'GET' && req.url?.endsWith(layer.digest) && stalls-- > 0 ? { stallAfter: 100 } : 'pass'));
    try {
      const ref = fx.single.ref.replace(registry.host, proxy.host);
      // Twice stalled, then served: resumed from where the bytes stopped, and whole.
      const out = join(dir, 'stalled.tar');
      const started = Date.now();
      const result = await pull({ images: [ref], output: out, registry: { idleTimeoutMs: 500 } });
      expect(result.images).toHaveLength(1);
      expect(Date.now() - started).toBeLessThan(10_000);
      // Always stalled: a clear error within seconds, nothing written.
      stalls = Number.POSITIVE_INFINITY;
      const never = join(dir, 'never.tar');
      const err = await pull({ images: [ref], output: never, registry: { idleTimeoutMs: 500 } }).catch((e: unknown) => e);
      expect(isAirpackError(err, 'NETWORK_ERROR'), String(err)).toBe(true);
      expect(String(err)).toContain('no data for 0.5 s (the server stalled)');
      expect(String(err)).toContain(layer.digest);
      expect(existsSync(never)).toBe(false);
    } finally {
      await proxy.stop();
    }
  }, 60_000);
  it('cuts a registry that answers nothing at all (the head never comes): a clear error, not a hang, nothing written', async () => {
    const { startFaultProxy } = await import('./support/fault-proxy.js');
    // Every manifest request is held far longer than the idle limit.
    const proxy = await startFaultProxy(registry.url, (req) => (/\/manifests\//.test(req.url ?? '') ? { delayMs: 20_000 } : 'pass'));
    try {
      const ref = fx.single.ref.replace(registry.host, proxy.host);
      const out = join(dir, 'no-head.tar');
      const started = Date.now();
      const err = await pull({ images: [ref], output: out, registry: { idleTimeoutMs: 300, retry: { attempts: 2, baseDelayMs: 50, maxDelayMs: 50 } } }).catch((e: unknown) => e);
      expect(isAirpackError(err, 'NETWORK_ERROR'), String(err)).toBe(true);
      expect(String(err)).toContain('no response within 300 ms');
      expect(String(err)).toContain(proxy.host);
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(existsSync(out)).toBe(false);
    } finally {
      await proxy.stop();
    }
  }, 60_000);

  it('a registry connection reset in the middle of every blob, several times in one run: pull and bundle resume each, and the artifacts verify', async () => {
    const { startFaultProxy } = await import('./support/fault-proxy.js');
    // The first two GETs of every blob bigger than 2 KB are reset after 1000 bytes of body.
    const resets = new Map<string, number>();
    let total = 0;
    let ranged = 0;
    const proxy = await startFaultProxy(registry.url, (req) => {
      const blob = /\/blobs\/(sha256:[a-f0-9]{64})$/.exec(req.url ?? '')?.[1];
      if (req.method !== 'GET' || !blob) return 'pass';
      if (req.headers.range) ranged++;
      const n = resets.get(blob) ?? 0;
      if (n >= 2) return 'pass';
      resets.set(blob, n + 1);
      total++;
      return { resetAfter: 1000 };
    });
    try {
      const ref = fx.multi.ref.replace(registry.host, proxy.host);
      const out = join(dir, 'reset-pull.tar');
      const pulled = await pull({ images: [ref], platforms: ['linux/amd64', 'linux/arm64'], output: out });
      expect(pulled.images).toHaveLength(2);
      // Layers resume where the bytes stopped (Range); a config is small and fetched again whole.
      expect(total, 'resets in the pull').toBeGreaterThanOrEqual(4);
      expect(ranged, 'Range requests in the pull').toBeGreaterThanOrEqual(total / 2);
      const bundled = join(dir, 'reset-bundle.tar.zst');
      resets.clear();
      total = 0;
      ranged = 0;
      await bundle({ images: [ref], platforms: ['linux/amd64', 'linux/arm64'], output: bundled, level: 3 });
      expect(total, 'resets in the bundle').toBeGreaterThanOrEqual(4);
      expect(ranged, 'Range requests in the bundle').toBeGreaterThanOrEqual(total / 2);
      for (const file of [out, bundled]) {
        const res = await run('node', [join(__dirname, '..', 'bin', 'airpack.js'), 'verify', file]);
        expect(res.code, res.stderr).toBe(0);
      }
      // The same bytes as without faults.
      const direct = join(dir, 'direct-pull.tar');
      await pull({ images: [fx.multi.ref], platforms: ['linux/amd64', 'linux/arm64'], output: direct });
      const names = (f: string) => JSON.parse(execFileSync('tar', ['-xOf', f, 'index.json']).toString()).manifests.map((m: { digest: string }) => m.digest);
      expect(names(out)).toEqual(names(direct));
      const directBundle = join(dir, 'direct-bundle.tar.zst');
      await bundle({ images: [fx.multi.ref], platforms: ['linux/amd64', 'linux/arm64'], output: directBundle, level: 3 });
      // The same manifests and configs as without faults (the names differ: one came through the proxy's host).
      const held = async (f: string) => {
        const res = await run('node', [join(__dirname, '..', 'bin', 'airpack.js'), 'ls', '--json', f]);
        return (JSON.parse(res.stdout) as Array<{ images: Array<{ digest?: string; platforms: Array<{ manifestDigest?: string; configDigest?: string }> }> }>)[0]!.images.map((i) => [i.digest, i.platforms.map((p) => [p.manifestDigest, p.configDigest])]);
      };
      expect(await held(bundled)).toEqual(await held(directBundle));
    } finally {
      await proxy.stop();
    }
  }, 60_000);
  it('a burst of 500, 503, 502 and 429 (Retry-After: 3) from the registry itself is waited out; one that never ends is exit 5 naming the registry', async () => {
    const { startFaultProxy } = await import('./support/fault-proxy.js');
    // Each manifest and blob request is answered 500, 503, 502, then 429 with Retry-After: 3, then served.
    const seen = new Map<string, number>();
    let always = false;
    const proxy = await startFaultProxy(registry.url, (req) => {
      if (!/\/(manifests|blobs)\//.test(req.url ?? '')) return 'pass';
      const key = `${req.method} ${req.url}`;
      const n = seen.get(key) ?? 0;
      seen.set(key, n + 1);
      if (!always && n >= 4) return 'pass';
      const status = always ? 503 : [500, 503, 502, 429][n]!;
      const headers: Record<string, string> = status === 429 ? { 'retry-after': '3' } : {};
      return { status, headers, body: '' };
    });
    try {
      const ref = fx.single.ref.replace(registry.host, proxy.host);
      const out = join(dir, 'burst.tar');
      const started = Date.now();
      const res = await run('node', [join(__dirname, '..', 'bin', 'airpack.js'), 'pull', ref, '-o', out]);
      expect(res.code, res.stderr).toBe(0);
      // Retry-After was honoured: 3 s after a 429, where the backoff alone (250 + 500 + 1000 ms before it) is 1.75 s.
      expect(Date.now() - started).toBeGreaterThanOrEqual(3000 + 1750);
      expect((await run('node', [join(__dirname, '..', 'bin', 'airpack.js'), 'verify', out])).code).toBe(0);
      always = true;
      const never = join(dir, 'never-burst.tar');
      const failed = await run('node', [join(__dirname, '..', 'bin', 'airpack.js'), 'pull', ref, '-o', never]);
      expect(failed.code, failed.stderr).toBe(5);
      expect(failed.stderr).toContain(proxy.host);
      expect(failed.stderr).toContain('503');
      expect(existsSync(never)).toBe(false);
    } finally {
      await proxy.stop();
    }
  }, 90_000);
});
