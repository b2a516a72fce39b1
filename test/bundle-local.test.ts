/**
 * Archives on disk as image inputs (`docker-archive:`, `oci-archive:`,
 * `oci:`, bare paths), made by real tools: skopeo copies of the registry's
 * images as a docker-archive (no index.json: the manifest is rebuilt), an
 * OCI layout directory and an OCI archive, gzip'd docker archives, and
 * airpack's own zstd bundles. What comes out is checked against what the
 * registry path writes for the same images, byte for byte where the
 * manifests are the same, and by containerd's import where they cannot be.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, watch } from 'node:fs';
import { mkdir, readdir, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle, isAirpackError, pull, type BundleResult } from '../src/index.js';
import { listArchive, verifyArchive } from '../src/scan/index.js';
import { readTar, entryJson } from './helpers/tar.js';
import { startWorld, type World } from './helpers/world.js';
import { startContainerd, type ContainerdHandle } from './support/containerd.js';
import { makeImage, makeLayer, pushImage } from './support/fixtures.js';
import { bytes } from './helpers/bytes.js';
import { readSeekTable } from '../src/zstd/index.js';
import { COST_PLAN_MIN_LEVEL } from '../src/archive/frame-plan.js';
import { runOk, sleep } from './support/util.js';

let world: World;
let containerd: ContainerdHandle;
let dir: string;
/** skopeo's copies of the registry's images. */
let ociDir: string;
let ociArchive: string;
let dockerArchive: string;

beforeAll(async () => {
  [world, containerd] = await Promise.all([startWorld('airpack-local-'), startContainerd()]);
  dir = world.dir;
  const { fx } = world;
  ociDir = join(dir, 'multi-oci');
  ociArchive = join(dir, 'windows-oci.tar');
  dockerArchive = join(dir, 'single-docker.tar');
  const src = (ref: string): string => `docker://${ref}`;
  await runOk('skopeo', ['copy', '--quiet', '--all', '--src-tls-verify=false', src(fx.multi.ref), `oci:${ociDir}:${fx.multi.ref}`]);
  await runOk('skopeo', ['copy', '--quiet', '--src-tls-verify=false', '--override-os', 'windows', src(fx.windows.byOsVersion['10.0.20348.2227']!.ref), `oci-archive:${ociArchive}:${fx.windows.ref}`]);
  // A docker-archive has no index.json: its manifest is rebuilt from the config and layer files.
  await runOk('skopeo', ['copy', '--quiet', '--src-tls-verify=false', src(fx.single.ref), `docker-archive:${dockerArchive}:${fx.single.ref}`]);
}, 120_000);

afterAll(async () => {
  await Promise.all([world?.stop(), containerd?.stop()]);
});

/**
 * Runs `work` with this process's temp directory set to a fresh one, and
 * returns what it is: other test files run at the same time and spill into
 * the shared /tmp, which a watch there would count as ours.
 */
async function withPrivateTmp<T>(work: (tmp: string) => Promise<T>): Promise<T> {
  const saved = process.env.TMPDIR;
  const tmp = join(dir, `tmp-${Math.random().toString(36).slice(2, 8)}`);
  await mkdir(tmp);
  process.env.TMPDIR = tmp;
  try {
    return await work(tmp);
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  }
}

describe('bundle from archives on disk', () => {
  it('gives the same bytes from an OCI layout directory as from the registry', async () => {
    const platforms = ['linux/amd64', 'linux/arm64'];
    const fromRegistry = join(dir, 'registry.tar.zst');
    const fromLayout = join(dir, 'layout.tar.zst');
    await bundle({ images: [world.fx.multi.ref], platforms, output: fromRegistry });
    const result = await bundle({ images: [`oci:${ociDir}`], platforms, output: fromLayout });
    expect(result.artifacts[0]!.images.map((i) => i.reference)).toEqual([world.fx.multi.ref, world.fx.multi.ref]);
    expect(await readFile(fromLayout)).toEqual(await readFile(fromRegistry));
  });

  it('re-bundles one platform out of an airpack zstd bundle, byte-identical to bundling it from the registry', async () => {
    const both = join(dir, 'both.tar.zst');
    await bundle({ images: [world.fx.multi.ref, world.fx.sharedA.ref], platforms: ['linux/amd64', 'linux/arm64'], output: both, skipMissing: true });
    const fromBundle = join(dir, 'from-bundle.tar.zst');
    const fromRegistry = join(dir, 'amd64-registry.tar.zst');
    // A bare path (absolute here) is an archive input too.
    await bundle({ images: [both], platforms: ['linux/amd64'], output: fromBundle });
    await bundle({ images: [world.fx.multi.ref, world.fx.sharedA.ref], platforms: ['linux/amd64'], output: fromRegistry });
    expect(await readFile(fromBundle)).toEqual(await readFile(fromRegistry));
  });

  it('re-bundles a bundle cut by cost byte-identical to the registry\'s: the probe reads each streamed layer once more out of the input', async () => {
    const MiB = 1024 * 1024;
    // 40 MiB that compress to nothing, then 30 MiB that do not compress: frames of equal cost cut
    // the second layer (at about 55 MiB), not the byte middle (35 MiB).
    const layers = [await makeLayer({ 'cheap/pattern.bin': Buffer.alloc(40 * MiB, 'pattern!') }), await makeLayer({ 'costly/random.bin': bytes(30 * MiB, 5) })];
    const image = makeImage({ os: 'linux', architecture: 'amd64', layers, manifestMediaType: 'oci' });
    await pushImage(world.registry.url, 'big/by-cost', image, 'v1');
    const ref = `${world.registry.host}/big/by-cost:v1`;
    const fromRegistry = join(dir, 'by-cost-registry.tar.zst');
    // The plan is by cost from COST_PLAN_MIN_LEVEL on (below it, probing costs what compressing does).
    const level = COST_PLAN_MIN_LEVEL;
    await bundle({ images: [ref], platforms: ['linux/amd64'], output: fromRegistry, level });
    const data = (await readSeekTable(fromRegistry))!.frames.filter((f) => f.uncompressedSize > 0);
    expect(data).toHaveLength(3);
    const layersStart = data[1]!.uncompressedOffset;
    expect(data[2]!.uncompressedOffset - layersStart).toBeGreaterThan(50 * MiB);
    const fromBundle = join(dir, 'by-cost-rebundle.tar.zst');
    await bundle({ images: [fromRegistry], platforms: ['linux/amd64'], output: fromBundle, level });
    expect((await readFile(fromBundle)).equals(await readFile(fromRegistry))).toBe(true);
    // One level below, by bytes: the second data frame starts near the byte middle.
    const byBytes = join(dir, 'by-bytes-registry.tar.zst');
    await bundle({ images: [ref], platforms: ['linux/amd64'], output: byBytes, level: level - 1 });
    const bytesData = (await readSeekTable(byBytes))!.frames.filter((f) => f.uncompressedSize > 0);
    expect(bytesData).toHaveLength(3);
    expect(bytesData[2]!.uncompressedOffset - bytesData[1]!.uncompressedOffset).toBeLessThan(45 * MiB);
  }, 120_000);

  // `bundle --json` of a re-bundle reported the input archive's digests (its new index, its rewritten
  // manifests) while the index.json it wrote carries the registry's, recorded in the input.
  it('reports the registry\'s digests for a re-bundle, as for a bundle from the registry', async () => {
    const { fx } = world;
    const digests = (r: BundleResult) => r.artifacts[0]!.images.map((i) => ({ reference: i.reference, sourceDigest: i.sourceDigest, indexDigest: i.indexDigest }));
    const fromRegistry = await bundle({ images: [fx.multi.ref, fx.single.ref], platforms: ['linux/amd64'], output: join(dir, 'digests-registry.tar.zst') });
    expect(digests(fromRegistry)).toEqual([
      { reference: fx.multi.ref, sourceDigest: fx.multi.byPlatform['linux/amd64']!.manifest.digest, indexDigest: fx.multi.index.digest },
      { reference: fx.single.ref, sourceDigest: fx.single.manifest.digest, indexDigest: undefined },
    ]);
    // Inputs: two platforms under a new index, manifests rewritten; one platform as a lone rewritten manifest;
    // one platform kept as served (--layers original), picked from the index.
    const inputs = [
      await bundle({ images: [fx.multi.ref, fx.single.ref], platforms: ['linux/amd64', 'linux/arm64'], output: join(dir, 'digests-two.tar.zst'), skipMissing: true }),
      await bundle({ images: [fx.multi.ref, fx.single.ref], platforms: ['linux/amd64'], output: join(dir, 'digests-one.tar.zst') }),
      await bundle({ images: [fx.multi.ref, fx.single.ref], platforms: ['linux/amd64'], layers: 'original', output: join(dir, 'digests-original.tar.zst') }),
    ];
    for (const [i, input] of inputs.entries()) {
      const again = await bundle({ images: [input.artifacts[0]!.path], platforms: ['linux/amd64'], output: join(dir, `digests-again-${i}.tar.zst`) });
      expect(digests(again), input.artifacts[0]!.path).toEqual(digests(fromRegistry));
    }
  });

  it('re-bundles out of a bundle with no scratch file: layers stream from its frames into the new ones', async () => {
    const both = join(dir, 'stream-src.tar.zst');
    await bundle({ images: [world.fx.multi.ref, world.fx.sharedA.ref], platforms: ['linux/amd64'], output: both, frameSize: 256 * 1024 });
    const plain = join(dir, 'stream-src.tar');
    await pull({ images: [both], output: plain });
    // A kept cache is the blob store: watch it, and the temp directory for a spill.
    const cacheDir = join(dir, 'stream-cache');
    await mkdir(cacheDir);
    const created: string[] = [];
    const fromBundle = join(dir, 'stream-out.tar.zst');
    await withPrivateTmp(async (tmp) => {
      const watchers = [watch(cacheDir, { recursive: true }, (_e, name) => name && created.push(String(name))), watch(tmp, (_e, name) => name && String(name).startsWith('airpack-archives-') && created.push(String(name)))];
      try {
        const result = await bundle({ images: [both], platforms: ['linux/amd64'], output: fromBundle, cacheDir, frameSize: 256 * 1024 });
        expect(result.artifacts[0]!.images).toHaveLength(2);
      } finally {
        for (const w of watchers) w.close();
      }
    });
    expect(created).toEqual([]);
    expect(await readdir(cacheDir)).toEqual([]);
    // The same bytes as from the plain tar, and as the bundle it came from.
    const fromTar = join(dir, 'stream-out-tar.tar.zst');
    await bundle({ images: [plain], platforms: ['linux/amd64'], output: fromTar, frameSize: 256 * 1024 });
    expect(await readFile(fromBundle)).toEqual(await readFile(fromTar));
    expect(await readFile(fromBundle)).toEqual(await readFile(both));
  });

  it('refuses a layer that does not match its digest while streaming it into a bundle, and leaves no file', async () => {
    const src = join(dir, 'stream-bad-src.tar');
    await pull({ images: [world.fx.single.ref], output: src, layers: 'uncompressed' });
    // Flip one byte inside the largest layer, where the tar has it.
    const entries = await readTar(src);
    const layer = entries.filter((e) => e.name.startsWith('blobs/sha256/')).sort((a, b) => b.data.length - a.data.length)[0]!;
    const bytes = await readFile(src);
    const at = bytes.indexOf(layer.data.subarray(0, 64)) + Math.floor(layer.data.length / 2);
    bytes[at] = bytes[at]! ^ 0xff;
    const bad = join(dir, 'stream-bad.tar');
    await writeFile(bad, bytes);
    const out = join(dir, 'stream-bad-out', 'x.tar.zst');
    await mkdir(join(dir, 'stream-bad-out'));
    const err = await bundle({ images: [bad], platforms: ['linux/amd64'], output: out }).catch((e: unknown) => e);
    expect(isAirpackError(err, 'DIGEST_MISMATCH'), String(err)).toBe(true);
    expect(String(err)).toContain(layer.name.slice('blobs/sha256/'.length));
    expect(await readdir(join(dir, 'stream-bad-out'))).toEqual([]);
  });

  // Found in review: the frames take layers in the archive's order (grouped by reference), which is not the
  // order images resolve in when one reference comes from two inputs; streaming in the other order hung once
  // a layer was bigger than a frame feed's 8 MiB in flight.
  it('streams layers in the order the bundle takes them when one reference comes from two archives', async () => {
    const { makeImage, makeIndex, pushImage, pushManifest, childDescriptor, seededBytes } = await import('./support/fixtures.js');
    const refs: string[] = [];
    for (const repo of ['order/one', 'order/two']) {
      const children = [];
      for (const architecture of ['amd64', 'arm64']) {
        const layer = await makeLayer({ 'data.bin': seededBytes(`${repo}-${architecture}`, 10 * 1024 * 1024) });
        const image = makeImage({ os: 'linux', architecture, layers: [layer], manifestMediaType: 'oci' });
        await pushImage(world.registry.url, repo, image);
        children.push(childDescriptor(image));
      }
      const index = makeIndex('oci', children);
      await pushManifest(world.registry.url, repo, 'v1', index.body, index.mediaType);
      refs.push(`${world.fx.host}/${repo}:v1`);
    }
    const amd = join(dir, 'order-amd64.tar');
    const arm = join(dir, 'order-arm64.tar');
    await pull({ images: refs, platforms: ['linux/amd64'], output: amd, layers: 'uncompressed' });
    await pull({ images: refs, platforms: ['linux/arm64'], output: arm, layers: 'uncompressed' });
    const out = join(dir, 'order.tar.zst');
    const fromRegistry = join(dir, 'order-registry.tar.zst');
    const opts = { platforms: ['linux/amd64', 'linux/arm64'], level: 1 };
    await bundle({ images: [amd, arm], output: out, skipMissing: true, ...opts });
    await bundle({ images: refs, output: fromRegistry, ...opts });
    // 40 MB each: compared as digests (a deep equality of the bytes takes minutes).
    const digest = async (f: string): Promise<string> => createHash('sha256').update(await readFile(f)).digest('hex');
    expect(await digest(out)).toBe(await digest(fromRegistry));
  }, 60_000);

  it('falls back to the store when a streamed local layer is not the size predicted (two gzip members)', async () => {
    const { gzipSync } = await import('node:zlib');
    const { makeImage, pushImage } = await import('./support/fixtures.js');
    const base = await makeLayer({ 'etc/one': Buffer.alloc(90_000, 1), 'etc/two': Buffer.alloc(90_000, 2) });
    // The same tar as two gzip members: ISIZE in the trailer is only the second member's size.
    const half = Math.floor(base.tar.length / 2);
    const blob = Buffer.concat([gzipSync(base.tar.subarray(0, half)), gzipSync(base.tar.subarray(half))]);
    const layer = { ...base, blob, digest: `sha256:${createHash('sha256').update(blob).digest('hex')}`, size: blob.length };
    const image = makeImage({ os: 'linux', architecture: 'amd64', layers: [layer], manifestMediaType: 'oci' });
    await pushImage(world.registry.url, 'library/members', image, 'v1');
    const src = join(dir, 'members.tar');
    await pull({ images: [`${world.fx.host}/library/members:v1`], output: src, layers: 'original' });
    const out = join(dir, 'members.tar.zst');
    await bundle({ images: [src], output: out, frameSize: 64 * 1024, level: 1 });
    const [verified] = await verifyArchive([out]);
    expect(verified!.ok, JSON.stringify(verified!.problems)).toBe(true);
    // The layer went in as its plain tar, under its diff_id.
    expect((await runOk('sh', ['-c', `zstd -dc '${out}' | tar -t`])).stdout).toContain(`blobs/sha256/${base.diffId.slice(7)}`);
  }, 60_000);

  it('reads an airpack bundle in place: no scratch copy, while a gzip archive is spilled once and says so', async () => {
    const both = join(dir, 'inplace.tar.zst');
    await bundle({ images: [world.fx.multi.ref], platforms: ['linux/amd64'], output: both });
    // Watch the temp directory for the spill directory a decompressed copy would go to.
    const created: string[] = [];
    const tmp = await withPrivateTmp(async (tmp) => {
      const watcher = watch(tmp, (_event, name) => name && created.push(String(name)));
      try {
        const fromBundle = await pull({ images: [both], output: join(dir, 'inplace.tar'), layers: 'original' });
        expect(fromBundle.spilled).toEqual([]);
        const gz = join(dir, 'inplace.tar.gz');
        await runOk('sh', ['-c', `gzip -c '${join(dir, 'inplace.tar')}' > '${gz}'`]);
        const fromGzip = await pull({ images: [gz], output: join(dir, 'inplace-gz.tar'), layers: 'original' });
        expect(fromGzip.spilled).toEqual([gz]);
        expect(await readFile(join(dir, 'inplace-gz.tar'))).toEqual(await readFile(join(dir, 'inplace.tar')));
      } finally {
        watcher.close();
      }
      return tmp;
    });
    await sleep(50);
    // One spill directory: the gzip one; none for the bundle, and none left behind.
    const spillDirs = [...new Set(created.filter((n) => n.startsWith('airpack-archives-')))];
    expect(spillDirs).toHaveLength(1);
    expect(existsSync(join(tmp, spillDirs[0]!))).toBe(false);
  });

  it('takes a Windows image from an OCI archive (skopeo oci-archive), foreign layers included', async () => {
    const out = join(dir, 'windows-local.tar.zst');
    // skopeo leaves foreign layers out of its archive; they come from their URLs, as from the registry.
    const foreign = world.fx.windows.byOsVersion['10.0.20348.2227']!.layers[0]!;
    expect(foreign.urls?.length).toBeGreaterThan(0);
    expect((await readTar(ociArchive)).map((e) => e.name)).not.toContain(`blobs/sha256/${foreign.digest.slice(7)}`);
    const result = await bundle({ images: [`oci-archive:${ociArchive}`], platforms: ['windows/amd64:ltsc2022'], output: out });
    const image = result.artifacts[0]!.images[0]!;
    expect(image.reference).toBe(world.fx.windows.ref);
    expect(image.osVersion).toBe('10.0.20348.2227');
    const [verified] = await verifyArchive([out]);
    expect(verified!.ok, JSON.stringify(verified!.problems)).toBe(true);
    // The same layer tars as from the registry: the diff_ids of the config, every one present.
    const config = world.fx.windows.byOsVersion['10.0.20348.2227']!.config;
    const diffIds = (JSON.parse(config.body.toString('utf8')) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids;
    const tar = join(dir, 'windows-local.tar');
    await runOk('zstd', ['-q', '-d', '-f', out, '-o', tar]);
    const names = (await readTar(tar)).map((e) => e.name);
    for (const d of diffIds) expect(names).toContain(`blobs/sha256/${d.slice(7)}`);
  });

  it('rebuilds the manifest of a docker-archive (skopeo) and containerd imports the result', async () => {
    expect((await readTar(dockerArchive)).map((e) => e.name)).not.toContain('index.json');
    const out = join(dir, 'from-docker-archive.tar');
    const result = await pull({ images: [`docker-archive:${dockerArchive}`], output: out, layers: 'original' });
    expect(result.images.map((i) => i.reference)).toEqual([world.fx.single.ref]);
    const entries = await readTar(out);
    const manifest = entryJson<Array<{ Config: string; RepoTags: string[] }>>(entries, 'manifest.json');
    expect(manifest[0]!.RepoTags).toEqual([world.fx.single.ref.replace(/^[^/]+\//, `${world.fx.host}/`)]);
    // The config is the registry's, byte for byte.
    expect(entries.find((e) => e.name === manifest[0]!.Config)!.data).toEqual(world.fx.single.config.body);
    const res = await containerd.importArchive(out);
    expect(res.code, res.stderr).toBe(0);
    expect((await containerd.listImages()).map((i) => i.name)).toContain(world.fx.single.ref);
  });

  it('reads a gzip-compressed docker archive the same as the plain one', async () => {
    const gz = join(dir, 'single-docker.tar.gz');
    await runOk('sh', ['-c', `gzip -c '${dockerArchive}' > '${gz}'`]);
    const plain = join(dir, 'plain.tar');
    const zipped = join(dir, 'zipped.tar');
    await pull({ images: [`docker-archive:${dockerArchive}`], output: plain, layers: 'uncompressed' });
    await pull({ images: [`docker-archive:${gz}`], output: zipped, layers: 'uncompressed' });
    expect(await readFile(zipped)).toEqual(await readFile(plain));
  });

  it('follows docker save\'s layer links (<id>/layer.tar -> ../blobs/sha256/<hex>), manifest.json last', async () => {
    // Docker 25's save keeps the legacy <id>/layer.tar paths as symlinks to the blobs; older tools used hard links.
    const entries = await readTar(dockerArchive);
    const manifest = entryJson<Array<{ Config: string; RepoTags: string[]; Layers: string[] }>>(entries, 'manifest.json');
    const pack = tar.pack();
    const layers: string[] = [];
    for (const [i, layer] of manifest[0]!.Layers.entries()) {
      const data = entries.find((e) => e.name === layer)!.data;
      const blob = `blobs/sha256/${createHash('sha256').update(data).digest('hex')}`;
      pack.entry({ name: blob, size: data.length }, data);
      pack.entry({ name: `layer${i}/`, type: 'directory' });
      if (i % 2 === 0) pack.entry({ name: `layer${i}/layer.tar`, type: 'symlink', linkname: `../${blob}` });
      else pack.entry({ name: `layer${i}/layer.tar`, type: 'link', linkname: blob });
      layers.push(`layer${i}/layer.tar`);
    }
    const config = entries.find((e) => e.name === manifest[0]!.Config)!.data;
    pack.entry({ name: manifest[0]!.Config, size: config.length }, config);
    const legacyManifest = Buffer.from(JSON.stringify([{ ...manifest[0], Layers: layers }]));
    pack.entry({ name: 'manifest.json', size: legacyManifest.length }, legacyManifest);
    pack.finalize();
    const legacy = join(dir, 'legacy-save.tar');
    await pipeline(pack, createWriteStream(legacy));

    const plain = join(dir, 'plain-for-legacy.tar');
    const fromLegacy = join(dir, 'from-legacy.tar');
    await pull({ images: [`docker-archive:${dockerArchive}`], output: plain, layers: 'uncompressed' });
    await pull({ images: [`./${relative(process.cwd(), legacy)}`], output: fromLegacy, layers: 'uncompressed' });
    expect(await readFile(fromLegacy)).toEqual(await readFile(plain));
  });

  it('takes relative archive paths in an image list against the list\'s directory, through the CLI', async () => {
    const list = join(dir, 'local-images.txt');
    await writeFile(list, `# archives beside this list\ndocker-archive:./single-docker.tar\n${world.fx.sharedB.ref}\n`);
    const out = join(dir, 'cli-local.tar.zst');
    const res = await runOk('node', [join(import.meta.dirname, '..', 'bin', 'airpack.js'), 'bundle', '--images', list, '-o', out, '--json'], { cwd: '/' });
    const result = JSON.parse(res.stdout) as { artifacts: Array<{ images: Array<{ reference: string }> }> };
    expect(result.artifacts[0]!.images.map((i) => i.reference)).toEqual([world.fx.single.ref, world.fx.sharedB.ref]);
    const [listed] = await listArchive([out]);
    expect(listed!.images.flatMap((i) => i.names)).toEqual([world.fx.single.ref, world.fx.sharedB.ref]);
  });
});

describe('bad archive inputs', () => {
  it('names an image by NAME when the archive leaves it unnamed, and asks for one otherwise', async () => {
    const unnamed = join(dir, 'unnamed-oci');
    await runOk('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${world.fx.single.ref}`, `oci:${unnamed}`]);
    const out = join(dir, 'unnamed.tar');
    const err = await pull({ images: [`oci:${unnamed}`], output: out }).catch((e: unknown) => e);
    expect(isAirpackError(err, 'INVALID_ARGUMENT')).toBe(true);
    expect((err as Error).message).toContain(`${unnamed}:`);
    expect((err as Error).message).toContain(`give it one: oci:${unnamed}:NAME`);
    expect(existsSync(out)).toBe(false);
    const named = await pull({ images: [`oci:${unnamed}:example.com/app:1.0`], output: out });
    expect(named.images.map((i) => i.reference)).toEqual(['example.com/app:1.0']);
  });

  it('says which images an archive holds when NAME is not one of them', async () => {
    const err = await pull({ images: [`docker-archive:${dockerArchive}:nothere:1`], output: join(dir, 'x.tar') }).catch((e: unknown) => e);
    expect(isAirpackError(err, 'NOT_FOUND')).toBe(true);
    expect((err as Error).message).toMatch(/holds no image docker\.io\/library\/nothere:1 \[it holds: .*single/);
  });

  it('fails on a missing path, naming it', async () => {
    const err = await pull({ images: [`oci:${join(dir, 'no-such-dir')}`], output: join(dir, 'y.tar') }).catch((e: unknown) => e);
    // A local file that cannot be had is an I/O failure (exit 5) in every command.
    expect(isAirpackError(err, 'IO_ERROR')).toBe(true);
    expect((err as Error).message).toContain('no-such-dir: no such file or directory');
  });

  it('refuses a layer whose bytes do not match its digest, leaving no output', async () => {
    const broken = join(dir, 'broken-oci');
    await runOk('cp', ['-r', ociDir, broken]);
    const blobs = join(broken, 'blobs', 'sha256');
    // The largest blob is a layer; flip one byte in the middle.
    let largest = '';
    let size = 0;
    for (const name of await readdir(blobs)) {
      const data = await readFile(join(blobs, name));
      if (data.length > size) [largest, size] = [name, data.length];
    }
    const data = await readFile(join(blobs, largest));
    data[data.length >> 1] = data[data.length >> 1]! ^ 0xff;
    await writeFile(join(blobs, largest), data);
    const out = join(dir, 'broken.tar.zst');
    const err = await bundle({ images: [`oci:${broken}`], platforms: ['linux/amd64', 'linux/arm64', 'linux/arm/v7'], output: out, layers: 'original' }).catch((e: unknown) => e);
    expect(isAirpackError(err, 'DIGEST_MISMATCH')).toBe(true);
    expect((err as Error).message).toContain(`sha256:${largest}`);
    expect(existsSync(out)).toBe(false);
    expect((await readdir(dir)).filter((n) => n.startsWith('broken.tar.zst'))).toEqual([]);
  });

  /** A copy of skopeo's OCI layout of `multi` (index.json -> index -> one manifest per platform) to damage. */
  async function layoutCopy(name: string): Promise<{ root: string; index: { manifests: Array<{ digest: string; annotations?: Record<string, string> }> }; nested: { manifests: Array<{ digest: string; platform: { architecture: string } }> } }> {
    const root = join(dir, name);
    await runOk('cp', ['-r', ociDir, root]);
    const index = JSON.parse(await readFile(join(root, 'index.json'), 'utf8'));
    const nested = JSON.parse(await readFile(join(root, 'blobs', 'sha256', index.manifests[0].digest.slice(7)), 'utf8'));
    return { root, index, nested };
  }

  it('takes what a partial layout holds (docker save from containerd keeps the whole index, one platform\'s blobs)', async () => {
    const { root, nested } = await layoutCopy('partial-oci');
    const arm64 = nested.manifests.find((m) => m.platform.architecture === 'arm64')!;
    await rm(join(root, 'blobs', 'sha256', arm64.digest.slice(7)));
    const out = join(dir, 'partial.tar');
    const err = await pull({ images: [`oci:${root}`], platforms: ['linux/amd64', 'linux/arm64'], output: out }).catch((e: unknown) => e);
    expect(isAirpackError(err, 'PLATFORM_NOT_FOUND')).toBe(true);
    expect((err as Error).message).toMatch(/no image for platform linux\/arm64 \[available: linux\/amd64, linux\/arm\/v7\]/);
    const result = await pull({ images: [`oci:${root}`], platforms: ['linux/amd64', 'linux/arm64'], output: out, skipMissing: true });
    expect(result.images.map((i) => i.platform)).toEqual(['linux/amd64']);
    expect(result.skipped.map((s) => s.platform)).toEqual(['linux/arm64']);
  });

  it('answers platforms together when index.json lists one manifest per platform under one name', async () => {
    const { root, index, nested } = await layoutCopy('flat-oci');
    const annotations = index.manifests[0]!.annotations;
    await writeFile(join(root, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: nested.manifests.map((m) => ({ ...m, annotations })) }));
    const result = await pull({ images: [`oci:${root}`], platforms: ['linux/amd64', 'linux/arm64'], output: join(dir, 'flat.tar') });
    expect(result.images.map((i) => `${i.reference} ${i.platform}`)).toEqual([`${world.fx.multi.ref} linux/amd64`, `${world.fx.multi.ref} linux/arm64`]);
  });

  it('reports a truncated blob as damage at once, not as a transfer to retry', async () => {
    const { root, nested } = await layoutCopy('truncated-oci');
    const manifest = JSON.parse(await readFile(join(root, 'blobs', 'sha256', nested.manifests[0]!.digest.slice(7)), 'utf8'));
    const layer = manifest.layers[0].digest as string;
    await truncate(join(root, 'blobs', 'sha256', layer.slice(7)), 10);
    const started = performance.now();
    const err = await pull({ images: [`oci:${root}`], output: join(dir, 'truncated.tar') }).catch((e: unknown) => e);
    expect(isAirpackError(err, 'SIZE_MISMATCH')).toBe(true);
    expect((err as Error).message).toContain(`blob ${layer} is 10 bytes in the archive`);
    // Retrying with backoff would take seconds.
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('never reads a file outside an OCI layout directory through a symlink (security)', async () => {
    // A well-formed layer tar outside the layout, and a config that names its diff_id: only the
    // containment check stands between it and the output.
    const secretLayer = await makeLayer({ 'etc/shadow': Buffer.from('root:$6$secret:19000:0:99999:7:::\n') }, { gzip: false });
    const outside = join(dir, 'outside-secret.tar');
    await writeFile(outside, secretLayer.tar);
    const root = join(dir, 'evil-layout');
    await mkdir(root);
    const config = Buffer.from(JSON.stringify({ os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: [secretLayer.diffId] } }));
    await writeFile(join(root, 'config.json'), config);
    await writeFile(join(root, 'manifest.json'), JSON.stringify([{ Config: 'config.json', RepoTags: ['evil/x:1'], Layers: ['layer.tar'] }]));
    await symlink(outside, join(root, 'layer.tar'));
    const out = join(dir, 'evil.tar');
    const err = await pull({ images: [`oci:${root}`], output: out }).catch((e: unknown) => e);
    expect(isAirpackError(err, 'ARCHIVE_INVALID')).toBe(true);
    expect((err as Error).message).toContain('layer "layer.tar" is not in the archive');
    expect(existsSync(out)).toBe(false);
  });
});
