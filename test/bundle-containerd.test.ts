/**
 * Bundles through the rke2/k3s load path for real: decompressed with the
 * zstd CLI, then containerd's `ctr images import` (Debian's containerd 1.6).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle, type BundleResult } from '../src/index.js';
import { startContainerd, type ContainerdHandle } from './support/containerd.js';
import { startBlobServer, type BlobServerHandle } from './support/foreign-server.js';
import { seedStandardImages, WINDOWS_VERSIONS, type StandardFixtures } from './support/fixtures.js';
import { startRegistry, type RegistryHandle } from './support/registry.js';
import { makeTempDir, removeDir, runOk } from './support/util.js';

let registry: RegistryHandle;
let blobServer: BlobServerHandle;
let containerd: ContainerdHandle;
let fx: StandardFixtures;
let dir: string;

beforeAll(async () => {
  [registry, blobServer, containerd] = await Promise.all([startRegistry(), startBlobServer(), startContainerd()]);
  fx = await seedStandardImages(registry, blobServer);
  dir = await makeTempDir('airpack-bundle-ctr-');
}, 60_000);

afterAll(async () => {
  await Promise.all([registry?.stop(), blobServer?.stop(), containerd?.stop()]);
  if (dir) await removeDir(dir);
});

describe('ctr images import of rke2 bundles', () => {
  let outDir: string;
  let result: BundleResult;

  beforeAll(async () => {
    outDir = join(dir, 'rke2');
    result = await bundle({
      images: [fx.sharedA.ref, fx.single.ref],
      windowsImages: [fx.windows.ref],
      platforms: ['linux/amd64', 'windows/amd64:ltsc2022'],
      outputDir: outDir,
      preset: 'rke2',
    });
  }, 60_000);

  it('imports and unpacks the decompressed linux bundle (uncompressed layers)', async () => {
    const tar = join(dir, 'linux.tar');
    await runOk('zstd', ['-q', '-d', '-f', '--memory=32MB', join(outDir, 'rke2-images.linux-amd64.tar.zst'), '-o', tar]);
    const res = await containerd.importArchive(tar);
    expect(res.code, res.stderr).toBe(0);
    const names = (await containerd.listImages()).map((i) => i.name);
    expect(names).toContain(`${fx.host}/library/shared-a:1`);
    expect(names).toContain(`${fx.host}/library/single:latest`);
  });

  it('imports the decompressed Windows ltsc2022 bundle under its name and platform', async () => {
    const tar = join(dir, 'win.tar');
    await runOk('zstd', ['-q', '-d', '-f', '--memory=32MB', join(outDir, 'rke2-windows-ltsc2022-amd64-images.tar.zst'), '-o', tar]);
    const res = await containerd.importArchive(tar, { platform: 'windows/amd64' });
    expect(res.code, res.stderr).toBe(0);
    const image = (await containerd.listImages()).find((i) => i.name === `${fx.host}/windows/servercore:ltsc`);
    expect(image, JSON.stringify(await containerd.listImages())).toBeDefined();
    expect(image!.platforms).toEqual(['windows/amd64']);
    // Uncompressed layers give a new manifest digest: the one the bundle reports, over the registry's config.
    const written = result.artifacts[1]!.images[0]!;
    expect(image!.digest).toBe(written.digest);
    expect(written.config).toBe(fx.windows.byOsVersion[WINDOWS_VERSIONS.ltsc2022]!.config.digest);
  });

  it('imports an original-layers bundle with the registry manifest digest unchanged', async () => {
    const out = join(dir, 'orig.tar.zst');
    await bundle({ images: [fx.windows.ref], platforms: ['windows/amd64:ltsc2022'], output: out, layers: 'original' });
    const tar = join(dir, 'orig.tar');
    await runOk('zstd', ['-q', '-d', '-f', out, '-o', tar]);
    await containerd.ctr(['images', 'rm', `${fx.host}/windows/servercore:ltsc`]);
    const res = await containerd.importArchive(tar, { platform: 'windows/amd64' });
    expect(res.code, res.stderr).toBe(0);
    const image = (await containerd.listImages()).find((i) => i.name === `${fx.host}/windows/servercore:ltsc`);
    expect(image!.digest).toBe(fx.windows.byOsVersion[WINDOWS_VERSIONS.ltsc2022]!.manifest.digest);
  });
});
