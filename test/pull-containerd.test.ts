/**
 * Archives written by `pull` go through the rke2/k3s load path for real:
 * containerd's `ctr images import` (Debian's containerd 1.6, own root in a
 * temp dir). The image must come out under its name, with its platform and,
 * in `original` mode, with the registry's manifest digest unchanged.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pull } from '../src/index.js';
import { startContainerd, type ContainerdHandle } from './support/containerd.js';
import { WINDOWS_VERSIONS, type StandardFixtures } from './support/fixtures.js';
import { startWorld, type World } from './helpers/world.js';

let world: World;
let containerd: ContainerdHandle;
let fx: StandardFixtures;
let dir: string;

beforeAll(async () => {
  [world, containerd] = await Promise.all([startWorld('airpack-ctr-'), startContainerd()]);
  ({ fx, dir } = world);
}, 60_000);

afterAll(async () => {
  await Promise.all([world?.stop(), containerd?.stop()]);
});

describe('ctr images import', () => {
  it('imports a Windows ltsc2022 archive under its name, platform and registry digest', async () => {
    const out = join(dir, 'win.tar');
    await pull({ images: [fx.windows.ref], platforms: ['windows/amd64:ltsc2022'], output: out });
    const res = await containerd.importArchive(out, { platform: 'windows/amd64' });
    expect(res.code, res.stderr).toBe(0);
    const image = (await containerd.listImages()).find((i) => i.name === `${fx.host}/windows/servercore:ltsc`);
    expect(image, JSON.stringify(await containerd.listImages())).toBeDefined();
    expect(image!.digest).toBe(fx.windows.byOsVersion[WINDOWS_VERSIONS.ltsc2022]!.manifest.digest);
    expect(image!.platforms).toEqual(['windows/amd64']);
  });

  it('imports and unpacks a linux archive with uncompressed layers', async () => {
    const out = join(dir, 'linux.tar');
    await pull({ images: [fx.sharedA.ref, fx.single.ref], output: out, layers: 'uncompressed' });
    const res = await containerd.importArchive(out);
    expect(res.code, res.stderr).toBe(0);
    const names = (await containerd.listImages()).map((i) => i.name);
    expect(names).toContain(`${fx.host}/library/shared-a:1`);
    expect(names).toContain(`${fx.host}/library/single:latest`);
  });

  it('imports a two-platform archive as one image listing both platforms', async () => {
    const out = join(dir, 'multi.tar');
    await pull({ images: [fx.multi.ref], platforms: ['linux/amd64', 'linux/arm/v7'], output: out });
    const res = await containerd.importArchive(out, { allPlatforms: true });
    expect(res.code, res.stderr).toBe(0);
    const image = (await containerd.listImages()).find((i) => i.name === `${fx.host}/library/multi:1.0`);
    expect(image?.platforms.sort()).toEqual(['linux/amd64', 'linux/arm/v7']);
  });

  it('imports an archive that kept the source list (every child pulled) under the list\'s own digest', async () => {
    const out = join(dir, 'whole-list.tar');
    await pull({ images: [fx.dockerlist.ref], platforms: ['linux/amd64', 'linux/arm64'], output: out });
    // index.json points at the registry's Docker manifest list itself, a nested index as ctr export writes.
    // As a node imports it (its own platform, unpacked), then whole.
    for (const opts of [{}, { allPlatforms: true }]) {
      const res = await containerd.importArchive(out, opts);
      expect(res.code, res.stderr).toBe(0);
      const image = (await containerd.listImages()).find((i) => i.name === `${fx.host}/library/dockerlist:2.0`);
      expect(image?.digest).toBe(fx.dockerlist.index.digest);
    }
    const image = (await containerd.listImages()).find((i) => i.name === `${fx.host}/library/dockerlist:2.0`);
    expect(image?.platforms.sort()).toEqual(['linux/amd64', 'linux/arm64']);
  });

  it('imports a digest-only reference under its digest name, with no invented tag', async () => {
    const out = join(dir, 'digest.tar');
    const ref = `${fx.host}/library/dockerlist@${fx.dockerlist.index.digest}`;
    await pull({ images: [ref], output: out });
    const res = await containerd.importArchive(out);
    expect(res.code, res.stderr).toBe(0);
    const names = (await containerd.listImages()).map((i) => i.name);
    expect(names).toContain(ref);
    expect(names.some((n) => n.includes('i-was-a-digest'))).toBe(false);
  });
});
