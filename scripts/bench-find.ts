/**
 * bench-find: how long `airpack find` takes to say which tarball in a
 * directory holds an image, against the full scan a loader without airpack
 * does (`zstd -dc FILE | tar -t`, file by file), in one run.
 *
 * Directories of N bundles each (target image in the last file):
 * - airpack: zstd bundles as airpack writes them (metadata frame + seek table);
 * - rke2-style: metadata-first tar compressed by the zstd CLI (one frame, --long=25);
 * - docker-save order: manifest.json last (bsdtar), compressed by the zstd CLI.
 * Then: find on an airpack bundle of --mib and of --big-mib (time must not
 * grow with size), the find CLI against bare `node -e 0` (start-up is most
 * of it), and verify / extract against `zstd -dc | openssl dgst -sha256`
 * (decode and hash; coreutils sha256sum has no SHA extensions here) and
 * `zstd -dc`, on random content and on level-16 bundles of both sample sets
 * (find too, on those).
 *
 * Usage: npm run bench:find -- [--files 4 --mib 100 --big-mib 1000 --rounds 5 --set both --scale 1]
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { writeImageArchive, type ArchiveContent } from '../src/archive/image-archive.js';
import { findImage } from '../src/scan/find.js';
import { fmt, measure, median, MiB, numberArg, requireTools } from './lib/measure.js';
import { pushSampleSet, sampleSets, type SampleSet } from './lib/sample-images.js';
import { startRegistry } from '../test/support/registry.js';

const AIRPACK = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../../bin/airpack.js');
const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface LayerFile {
  path: string;
  digest: string;
  size: number;
}

/** A layer of `mib` MiB, half random and half zeros (zstd halves it): the worst case for decode-vs-hash ratios. */
function randomLayer(work: string, name: string, mib: number): LayerFile {
  const path = join(work, `${name.replace(/[/:]/g, '_')}.layer`);
  const fd = openSync(path, 'w');
  const h = createHash('sha256');
  const chunk = Buffer.alloc(MiB);
  for (let i = 0; i < mib; i++) {
    randomBytes(MiB / 2).copy(chunk, 0);
    writeSync(fd, chunk);
    h.update(chunk);
  }
  closeSync(fd);
  return { path, digest: `sha256:${h.digest('hex')}`, size: mib * MiB };
}

/** An archive holding one image per entry of `images`, each with its layers. */
function makeContent(images: ReadonlyArray<{ name: string; layers: readonly LayerFile[] }>): ArchiveContent {
  const content: ArchiveContent = { images: [], metadataBlobs: [], layerBlobs: [] };
  for (const { name, layers } of images) {
    const descs = layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: l.digest, size: l.size }));
    const config = Buffer.from(JSON.stringify({ os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: descs.map((d) => d.digest) } }));
    const manifest = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length }, layers: descs }),
    );
    content.images.push({
      descriptor: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(manifest), size: manifest.length, platform: { os: 'linux', architecture: 'amd64' }, annotations: { 'io.containerd.image.name': `docker.io/${name}` } },
      docker: [{ Config: `blobs/sha256/${sha(config).slice(7)}`, RepoTags: [name], Layers: descs.map((d) => `blobs/sha256/${d.digest.slice(7)}`) }],
    });
    content.metadataBlobs.push({ digest: sha(manifest), size: manifest.length, data: manifest }, { digest: sha(config), size: config.length, data: config });
    content.layerBlobs.push(...layers.map((l) => ({ digest: l.digest, size: l.size, path: l.path })));
  }
  return content;
}

/** One image with one random layer of `mib` MiB. */
function randomContent(work: string, name: string, mib: number): ArchiveContent {
  return makeContent([{ name, layers: [randomLayer(work, name, mib)] }]);
}

/** Seconds a library call takes inside a fresh node process, start-up and module loading left out. */
function librarySeconds(call: string): number {
  const lib = resolve(AIRPACK, '../../dist/scan/index.js');
  const program = `const s = await import(${JSON.stringify(lib)}); const t = performance.now(); await ${call}; process.stdout.write(String((performance.now() - t) / 1000));`;
  return Number(execFileSync(process.execPath, ['--input-type=module', '-e', program], { encoding: 'utf8' }));
}

/**
 * verify and extract against what they must do at the least, on `bundle`:
 * decode (zstd -dc), decode and hash, decode and write a file. Rounds
 * alternate between the tools, so machine noise hits all alike. Throughput
 * is uncompressed bytes of the file per second: extract decodes the frames
 * holding `image`'s entries and writes its share.
 */
async function throughput(work: string, bundle: string, tarBytes: number, image: string, rounds: number): Promise<string> {
  const out = join(work, 'extracted.tar');
  const zstdOut = join(work, 'zstd-out.tar');
  const keys = ['zstd', 'zstdHash', 'zstdOpenssl', 'zstdFile', 'verify', 'verifyLib', 'extract', 'extractLib'] as const;
  const t = Object.fromEntries(keys.map((k) => [k, [] as number[]])) as Record<(typeof keys)[number], number[]>;
  let verifyRss = 0;
  let extractRss = 0;
  for (let i = 0; i < rounds; i++) {
    t.zstd.push(await sh(`zstd -dc '${bundle}' > /dev/null`));
    t.zstdHash.push(await sh(`zstd -dc '${bundle}' | sha256sum > /dev/null`));
    t.zstdOpenssl.push(await sh(`zstd -dc '${bundle}' | openssl dgst -sha256 > /dev/null`));
    t.zstdFile.push(await sh(`zstd -dc '${bundle}' > '${zstdOut}'`));
    rmSync(zstdOut);
    const v = await measure('node', [AIRPACK, 'verify', bundle]);
    t.verify.push(v.seconds);
    verifyRss = Math.max(verifyRss, v.maxRssMiB);
    t.verifyLib.push(librarySeconds(`s.verifyArchive([${JSON.stringify(bundle)}])`));
    const e = await measure('node', [AIRPACK, 'extract', bundle, image, '-o', out]);
    t.extract.push(e.seconds);
    extractRss = Math.max(extractRss, e.maxRssMiB);
    rmSync(out);
    t.extractLib.push(librarySeconds(`s.extractImage(${JSON.stringify(bundle)}, ${JSON.stringify(image)}, { output: ${JSON.stringify(out)} })`));
    rmSync(out);
  }
  const m = Object.fromEntries(keys.map((k) => [k, median(t[k])])) as Record<(typeof keys)[number], number>;
  const rate = (s: number): string => `${fmt(tarBytes / MiB / s, 0)} MiB/s`;
  const vs = (s: number, ref: number): string => fmt(ref / s, 2);
  return [
    `${bundle.split('/').pop()}: ${fmt(statSync(bundle).size / MiB, 0)} MiB, ${fmt(tarBytes / MiB, 0)} MiB of tar; medians of ${rounds} alternating rounds`,
    `  zstd -dc ${fmt(m.zstd, 2)} s (${rate(m.zstd)}), zstd -dc | openssl dgst -sha256 ${fmt(m.zstdOpenssl, 2)} s, zstd -dc | sha256sum ${fmt(m.zstdHash, 2)} s, zstd -dc > file ${fmt(m.zstdFile, 2)} s`,
    `  verify  cli ${fmt(m.verify, 2)} s (${rate(m.verify)}, peak ${fmt(verifyRss, 0)} MiB): **${fmt(m.verify / m.zstdOpenssl, 2)}x the time of zstd -dc | openssl dgst -sha256** (target <= 1.2), ${vs(m.verify, m.zstd)}x the throughput of zstd -dc`,
    `          library ${fmt(m.verifyLib, 2)} s (${rate(m.verifyLib)}, node start-up left out): ${vs(m.verifyLib, m.zstd)}x of zstd -dc`,
    `  extract ${image} cli ${fmt(m.extract, 2)} s (${rate(m.extract)}, peak ${fmt(extractRss, 0)} MiB): ${vs(m.extract, m.zstd)}x the throughput of zstd -dc, ${vs(m.extract, m.zstdFile)}x of zstd -dc > file`,
    `          library ${fmt(m.extractLib, 2)} s (${rate(m.extractLib)}): ${vs(m.extractLib, m.zstd)}x of zstd -dc`,
  ].join('\n');
}

async function sh(script: string): Promise<number> {
  return (await measure('/bin/bash', ['-c', script])).seconds;
}

/** find's CLI and library times, and bare `node -e 0` in the same rounds (what starting any node program costs). */
async function timeFind(ref: string, dir: string, rounds: number): Promise<{ cli: number; lib: number; node: number }> {
  const cli: number[] = [];
  const lib: number[] = [];
  const node: number[] = [];
  for (let i = 0; i < rounds; i++) {
    node.push((await measure('node', ['-e', '0'])).seconds);
    cli.push((await measure('node', [AIRPACK, 'find', ref, dir])).seconds);
    const t = performance.now();
    const r = await findImage(ref, [dir]);
    lib.push((performance.now() - t) / 1000);
    if (!r.found) throw new Error(`${ref} not found in ${dir}`);
  }
  return { cli: median(cli), lib: median(lib), node: median(node) };
}

/**
 * A level-16 bundle of each sample set, made by `airpack bundle` from a
 * loopback registry: what verify and extract meet in the field.
 */
async function sampleBundles(work: string): Promise<Array<{ set: SampleSet; path: string; tarBytes: number; image: string }>> {
  const registry = await startRegistry();
  try {
    const out = [];
    for (const set of sampleSets()) {
      process.stderr.write(`[${set}] pushing and bundling (level 16)...\n`);
      const pushed = await pushSampleSet(registry, set, { count: numberArg('images', 4), layerBytes: numberArg('layer-mib', 25) * MiB, architectures: ['amd64'] }, numberArg('scale', 1));
      const path = join(work, `${set}.tar.zst`);
      await measure('node', [AIRPACK, 'bundle', ...pushed.images.map((i) => i.ref), '-p', 'linux/amd64', '-o', path, '--quiet']);
      const tarBytes = Number(execFileSync('/bin/bash', ['-c', `zstd -dc '${path}' | wc -c`], { encoding: 'utf8' }).trim());
      // Extract the last image of the list: the frames before it are skipped.
      out.push({ set, path, tarBytes, image: pushed.images.at(-1)!.ref });
    }
    return out;
  } finally {
    await registry.stop();
  }
}

async function main(): Promise<void> {
  requireTools(['/usr/bin/time', '/usr/bin/zstd', '/usr/bin/bsdtar', '/usr/bin/openssl', '/usr/bin/docker-registry']);
  const files = numberArg('files', 4);
  const mib = numberArg('mib', 100);
  const bigMib = numberArg('big-mib', 1000);
  const rounds = numberArg('rounds', 5);
  const work = await mkdtemp(join(tmpdir(), 'airpack-bench-find-'));
  try {
    const dirs = { airpack: join(work, 'airpack'), rke2: join(work, 'rke2'), dockerSave: join(work, 'docker-save') };
    for (const d of Object.values(dirs)) await mkdir(d);
    process.stderr.write(`writing ${files} bundles of ${mib} MiB per kind...\n`);
    for (let i = 0; i < files; i++) {
      const name = i === files - 1 ? 'rancher/target:v1' : `rancher/decoy-${i}:v1`;
      const content = randomContent(work, name, mib);
      const base = `${String(i).padStart(2, '0')}-images`;
      await writeImageArchive(join(dirs.airpack, `${base}.tar.zst`), content, { compression: 'zstd', level: 3 });
      const plain = join(work, `${base}.tar`);
      await writeImageArchive(plain, content, { compression: 'none' });
      await sh(`zstd -q -T0 -3 --long=25 '${plain}' -o '${join(dirs.rke2, `${base}.tar.zst`)}'`);
      const x = join(work, `x-${i}`);
      await mkdir(x);
      await sh(`bsdtar -xf '${plain}' -C '${x}' && bsdtar -cf - -C '${x}' blobs oci-layout index.json manifest.json | zstd -q -T0 -3 --long=25 -o '${join(dirs.dockerSave, `${base}.tar.zst`)}'`);
      rmSync(x, { recursive: true, force: true });
      rmSync(plain, { force: true });
      const layer = content.layerBlobs[0]!;
      if ('path' in layer) rmSync(layer.path, { force: true });
    }
    const total = (d: string): number => Array.from({ length: files }, (_, i) => statSync(join(d, `${String(i).padStart(2, '0')}-images.tar.zst`)).size).reduce((a, b) => a + b, 0);
    const ref = 'rancher/target:v1';
    const rows: string[] = [];
    for (const [kind, d] of Object.entries(dirs)) {
      const full = await sh(`for f in '${d}'/*; do zstd -dc "$f" | tar -t >/dev/null; done`);
      const f = await timeFind(ref, d, rounds);
      rows.push(`${kind.padEnd(11)} ${fmt(total(d) / MiB, 0).padStart(6)} MiB  full scan ${fmt(full, 3)} s  find cli ${fmt(f.cli, 3)} s (**${fmt(f.cli / f.node, 2)}x node -e 0** at ${fmt(f.node, 3)} s; target <= 1.6x)  find lib ${fmt(f.lib * 1000, 2)} ms  lib/full ${fmt(f.lib / full, 4)}x`);
    }

    process.stderr.write(`writing one ${mib} MiB and one ${bigMib} MiB airpack bundle...\n`);
    const small = join(work, 'small.tar.zst');
    const big = join(work, 'big.tar.zst');
    await writeImageArchive(small, randomContent(work, 'rancher/small:v1', mib), { compression: 'zstd', level: 3 });
    const bigTar = (await writeImageArchive(big, randomContent(work, 'rancher/big:v1', bigMib), { compression: 'zstd', level: 3 })).tarBytes;
    const fs = await timeFind('rancher/small:v1', small, rounds);
    const fb = await timeFind('rancher/big:v1', big, rounds);
    const bigThroughput = await throughput(work, big, bigTar, 'rancher/big:v1', 3);
    rmSync(big);

    const setThroughput: string[] = [];
    const setFind: string[] = [];
    for (const b of await sampleBundles(work)) {
      setThroughput.push(`[${b.set} set] ${await throughput(work, b.path, b.tarBytes, b.image, rounds)}`);
      const f = await timeFind(b.image, b.path, rounds);
      setFind.push(`[${b.set} set] find cli ${fmt(f.cli, 3)} s (**${fmt(f.cli / f.node, 2)}x node -e 0** at ${fmt(f.node, 3)} s; target <= 1.6x)  find lib ${fmt(f.lib * 1000, 2)} ms`);
      rmSync(b.path);
    }

    process.stdout.write(`find over ${files} bundles per kind (target in the last), medians of ${rounds}:\n${rows.join('\n')}\n`);
    process.stdout.write(`find lib: ${mib} MiB bundle ${fmt(fs.lib * 1000, 2)} ms, ${bigMib} MiB bundle ${fmt(fb.lib * 1000, 2)} ms (ratio ${fmt(fb.lib / fs.lib, 2)}x); cli ${fmt(fs.cli, 3)} s vs ${fmt(fb.cli, 3)} s\n`);
    process.stdout.write(`verify and extract, random half-zero content (zstd's raw blocks decode at memcpy speed; sha256 cannot keep up):\n${bigThroughput}\n`);
    process.stdout.write(`find the last image of each sample set's level-16 bundle, medians of ${rounds}:\n${setFind.join('\n')}\n`);
    process.stdout.write(`verify and extract, level-16 bundles of the sample sets (real binaries, what image bundles hold):\n${setThroughput.join('\n')}\n`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();
