/**
 * `bundle` against a real registry (Debian's docker-registry on 127.0.0.1,
 * foreign Windows layers on a second loopback server), checked by the
 * reference tools: the zstd CLI (also under wharfie's 32 MiB decoder cap),
 * bsdtar, sha256sum, and airpack's own first-frame reader.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle, type BundleResult } from '../src/index.js';
import { readFirstFrame, readSeekTable } from '../src/zstd/index.js';
import type { DockerManifestEntry, ImageIndex } from '../src/spec/types.js';
import type { BlobServerHandle } from './support/foreign-server.js';
import { WINDOWS_VERSIONS, type StandardFixtures } from './support/fixtures.js';
import { startWorld, type World } from './helpers/world.js';
import { run, runOk } from './support/util.js';
import { entryJson, readTar } from './helpers/tar.js';

let world: World;
let blobServer: BlobServerHandle;
let fx: StandardFixtures;
let dir: string;

beforeAll(async () => {
  world = await startWorld('airpack-bundle-');
  ({ blobServer, fx, dir } = world);
}, 60_000);

afterAll(() => world?.stop());

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Entry names of a plain tar held in memory (ustar headers; enough for the metadata frame). */
function tarNames(buf: Buffer): string[] {
  const names: string[] = [];
  let off = 0;
  while (off + 512 <= buf.length) {
    const header = buf.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    const name = header.subarray(0, 100).toString('latin1').replace(/\0.*$/s, '');
    const prefix = header.subarray(345, 500).toString('latin1').replace(/\0.*$/s, '');
    const size = parseInt(header.subarray(124, 136).toString('latin1').replace(/\0.*$/s, '').trim() || '0', 8);
    names.push(prefix ? `${prefix}/${name}` : name);
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return names;
}

describe('bundle -o FILE.tar.zst', () => {
  let out: string;
  let result: BundleResult;

  beforeAll(async () => {
    out = join(dir, 'two-platforms.tar.zst');
    result = await bundle({ images: [fx.multi.ref, fx.dockerlist.ref], platforms: ['linux/amd64', 'linux/arm64'], output: out });
  }, 60_000);

  it('writes exactly that file, zstd framed, uncompressed layers by default', async () => {
    expect(await readdir(dir)).toEqual(['two-platforms.tar.zst']);
    expect(result.layers).toBe('uncompressed');
    expect(result.artifacts).toHaveLength(1);
    expect(result.artifacts[0]!.compression).toBe('zstd');
    expect(result.artifacts[0]!.images.map((i) => i.platform)).toEqual(['linux/amd64', 'linux/arm64', 'linux/amd64', 'linux/arm64']);
    const table = await readSeekTable(out);
    expect(table?.frames.length).toBeGreaterThanOrEqual(2);
  });

  it('decompresses with the zstd CLI, also under a 32 MiB memory cap, into a tar bsdtar lists metadata first', async () => {
    const plain = join(dir, 'cli.tar');
    await runOk('zstd', ['-q', '-d', '-f', out, '-o', plain]);
    const capped = await run('zstd', ['-q', '-d', '--memory=32MB', '-c', out]);
    expect(capped.code, capped.stderr).toBe(0);
    const { stdout } = await runOk('bsdtar', ['-tf', plain]);
    const names = stdout.trim().split('\n');
    expect(names.slice(0, 3)).toEqual(['manifest.json', 'index.json', 'oci-layout']);
    const entries = await readTar(plain);
    expect(entryJson<DockerManifestEntry[]>(entries, 'manifest.json')).toHaveLength(4);
    expect(entryJson<ImageIndex>(entries, 'index.json').manifests).toHaveLength(2);
    // bsdtar reads the .tar.zst itself, too.
    const direct = await runOk('bsdtar', ['-tf', out]);
    expect(direct.stdout.trim().split('\n')[0]).toBe('manifest.json');
  });

  it('holds manifest.json, index.json and every manifest and config in its first frame alone', async () => {
    const first = await readFirstFrame(out);
    const names = tarNames(first.data);
    expect(names[0]).toBe('manifest.json');
    expect(names).toContain('index.json');
    const manifestJson = JSON.parse((await runOk('bsdtar', ['-xOf', out, 'manifest.json'])).stdout) as Array<{ Config: string; Layers: string[] }>;
    for (const m of manifestJson) {
      expect(names).toContain(m.Config);
      for (const layer of m.Layers) expect(names).not.toContain(layer);
    }
    expect(first.data.length).toBeLessThan(64 * 1024);
    expect(first.compressedSize).toBeLessThan((await readFile(out)).length / 2);
  });

  it('gives the same bytes on a second run', async () => {
    const again = join(dir, 'again', 'two-platforms.tar.zst');
    // A single -o is taken as written: its directory must exist (checked before any work).
    await mkdir(join(dir, 'again'));
    await bundle({ images: [fx.multi.ref, fx.dockerlist.ref], platforms: ['linux/amd64', 'linux/arm64'], output: again });
    expect(sha256(await readFile(again))).toBe(sha256(await readFile(out)));
  });
});

describe('bundle --output-dir --preset rke2 (linux + windows matrix)', () => {
  let outDir: string;
  let result: BundleResult;
  const options = () => ({
    images: [fx.windows.ref],
    platforms: ['linux/amd64', 'windows/amd64:ltsc2022', 'windows/amd64:1809'],
    preset: 'rke2' as const,
  });

  beforeAll(async () => {
    outDir = join(dir, 'rke2');
    result = await bundle({ ...options(), outputDir: outDir });
  }, 60_000);

  it('names artifacts, image lists and the checksum file as rke2 does', async () => {
    expect(result.artifacts.map((a) => a.name)).toEqual([
      'rke2-images.linux-amd64.tar.zst',
      'rke2-windows-ltsc2022-amd64-images.tar.zst',
      'rke2-windows-1809-amd64-images.tar.zst',
    ]);
    expect((await readdir(outDir)).sort()).toEqual([
      'rke2-images.linux-amd64.tar.zst',
      'rke2-images.linux-amd64.txt',
      'rke2-windows-1809-amd64-images.tar.zst',
      'rke2-windows-1809-amd64-images.txt',
      'rke2-windows-ltsc2022-amd64-images.tar.zst',
      'rke2-windows-ltsc2022-amd64-images.txt',
      'sha256sum-amd64.txt',
    ]);
    expect(await readFile(join(outDir, 'rke2-images.linux-amd64.txt'), 'utf8')).toBe(`${fx.windows.ref}\n`);
  });

  it('picks the right Windows child per artifact', () => {
    const win = result.artifacts[1]!.images[0]!;
    expect(win.sourceDigest).toBe(fx.windows.byOsVersion[WINDOWS_VERSIONS.ltsc2022]!.manifest.digest);
    expect(result.artifacts[2]!.images[0]!.sourceDigest).toBe(fx.windows.byOsVersion[WINDOWS_VERSIONS.ltsc2019]!.manifest.digest);
    expect(result.artifacts[0]!.images[0]!.platform).toBe('linux/amd64');
  });

  it('writes a checksum file sha256sum -c accepts', async () => {
    const text = await readFile(join(outDir, 'sha256sum-amd64.txt'), 'utf8');
    expect(text.trim().split('\n')).toHaveLength(6);
    const res = await run('sha256sum', ['-c', 'sha256sum-amd64.txt'], { cwd: outDir });
    expect(res.code, res.stderr + res.stdout).toBe(0);
  });

  it('gives identical bytes on a second run', async () => {
    const again = join(dir, 'rke2-again');
    await bundle({ ...options(), outputDir: again });
    for (const name of await readdir(outDir)) {
      expect(sha256(await readFile(join(again, name))), name).toBe(sha256(await readFile(join(outDir, name))));
    }
  });
});

describe('bundle --preset velero from the Makefile environment', () => {
  it('writes _output/<bin>-<version>-<os>-<arch>.tar per platform, Windows amd64 only, checksums per arch', async () => {
    const outDir = join(dir, 'velero');
    const result = await bundle({
      images: [fx.multi.ref],
      windowsImages: [fx.windows.ref],
      outputDir: outDir,
      preset: 'velero',
      env: { BUILD_OS: 'linux windows', BUILD_ARCH: 'amd64 arm64', BUILD_WINDOWS_VERSION: 'ltsc2022', VERSION: 'v1.14.0' },
    });
    expect(result.artifacts.map((a) => a.name)).toEqual([
      '_output/velero-v1.14.0-linux-amd64.tar',
      '_output/velero-v1.14.0-linux-arm64.tar',
      '_output/velero-v1.14.0-windows-ltsc2022-amd64.tar',
    ]);
    expect(result.artifacts.every((a) => a.compression === 'none')).toBe(true);
    const files = (await readdir(join(outDir, '_output'))).sort();
    expect(files).toContain('sha256sum-amd64.txt');
    expect(files).toContain('sha256sum-arm64.txt');
    expect(files).toContain('velero-v1.14.0-windows-ltsc2022-amd64.txt');
    for (const sums of ['sha256sum-amd64.txt', 'sha256sum-arm64.txt']) {
      const res = await run('sha256sum', ['-c', sums], { cwd: join(outDir, '_output') });
      expect(res.code, res.stderr + res.stdout).toBe(0);
    }
    const { stdout } = await runOk('bsdtar', ['-tf', join(outDir, '_output/velero-v1.14.0-windows-ltsc2022-amd64.tar')]);
    expect(stdout.split('\n')[0]).toBe('manifest.json');
  });
});

describe('bundle matrix: one session', () => {
  it('downloads a blob shared by two artifacts once (image sets, {set} in the name)', async () => {
    const foreign = fx.windows.byOsVersion[WINDOWS_VERSIONS.ltsc2022]!.layers.find((l) => l.foreign)!;
    const path = fx.windows.foreignPaths[foreign.digest]!;
    const before = blobServer.requests.length;
    const result = await bundle({
      sets: [
        { name: 'a', images: [fx.windows.ref] },
        { name: 'b', images: [fx.windows.ref] },
      ],
      platforms: ['windows/amd64:ltsc2022'],
      outputDir: join(dir, 'sets'),
      preset: 'rke2',
    });
    expect(result.artifacts.map((a) => a.name)).toEqual([
      'rke2-windows-ltsc2022-amd64-images-a.tar.zst',
      'rke2-windows-ltsc2022-amd64-images-b.tar.zst',
    ]);
    expect(result.artifacts[0]!.sha256).toBe(result.artifacts[1]!.sha256);
    // One download of the body; besides it only the 4-byte read of its gzip trailer (size prediction).
    const mine = blobServer.requests.slice(before).filter((r) => r.path === path);
    expect(mine.filter((r) => r.range !== `bytes=${foreign.size - 4}-`)).toHaveLength(1);
    expect(mine.length).toBeLessThanOrEqual(2);
  });

  it('refuses a name pattern that gives two artifacts the same name', async () => {
    await expect(
      bundle({ images: [fx.multi.ref], platforms: ['linux/amd64', 'linux/arm64'], outputDir: join(dir, 'clash'), name: 'x-{os}.tar.zst' }),
    ).rejects.toThrow(/produced twice/);
  });
});

describe('bundle while fetching: frames compressed as their layers arrive (sizes from the gzip trailers)', () => {
  const same = async (name: string, images: string[], platforms: string[]): Promise<void> => {
    const { mkdir } = await import('node:fs/promises');
    const { pull } = await import('../src/index.js');
    const sub = join(dir, name);
    await mkdir(sub);
    const out = join(sub, 'bundle.tar.zst');
    // Small frames: most frames wait for a layer still downloading.
    await bundle({ images, platforms, output: out, frameSize: 64 * 1024 });
    const tar = join(sub, 'pulled.tar');
    await pull({ images, platforms, output: tar, layers: 'uncompressed' });
    const { stdout } = await runOk('sh', ['-c', `zstd -d -c '${out}' | sha256sum`]);
    expect(stdout.split(' ')[0]).toBe(sha256(await readFile(tar)));
    expect((await readSeekTable(out))!.frames.length).toBeGreaterThan(2);
  };

  it('decompresses to exactly the tar pull --layers uncompressed writes (Linux, two images)', async () => {
    await same('overlap-linux', [fx.multi.ref, fx.sharedA.ref], ['linux/amd64']);
  });

  it('does the same with foreign Windows layers', async () => {
    await same('overlap-windows', [fx.windows.ref], ['windows/amd64:ltsc2022']);
  });

  it('falls back to writing after the fetch when a layer is several gzip members', async () => {
    const { makeImage, makeLayer, pushImage } = await import('./support/fixtures.js');
    const { gzipSync } = await import('node:zlib');
    const base = await makeLayer({ 'etc/motd': Buffer.from('bundle\n'.repeat(4000)), 'bin/tool': Buffer.alloc(90_000, 3) });
    const half = 16 * 1024;
    const blob = Buffer.concat([gzipSync(base.tar.subarray(0, half)), gzipSync(base.tar.subarray(half))]);
    const digest = `sha256:${sha256(blob)}`;
    const image = makeImage({ os: 'linux', architecture: 'amd64', layers: [{ ...base, blob, digest, size: blob.length }], manifestMediaType: 'oci' });
    await pushImage(world.registry.url, 'test/bundle-multimember', image, 'v1');
    await same('overlap-multimember', [`${fx.host}/test/bundle-multimember:v1`], ['linux/amd64']);
  });
});
