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
 * grow with size), and verify / extract throughput against `zstd -dc`.
 *
 * Usage: npm run -s build:scripts && node build/scripts/bench-find.js [--files 4 --mib 100 --big-mib 1000 --rounds 5]
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { writeImageArchive, type ArchiveContent } from '../src/archive/image-archive.js';
import { findImage } from '../src/scan/find.js';
import { fmt, measure, median, MiB, numberArg, requireTools } from './lib/measure.js';

const AIRPACK = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../../bin/airpack.js');
const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** An image with one layer of `mib` MiB (half random, half zeros: zstd halves it). */
function makeContent(work: string, name: string, mib: number): ArchiveContent {
  const layerPath = join(work, `${name.replace(/[/:]/g, '_')}.layer`);
  const fd = openSync(layerPath, 'w');
  const h = createHash('sha256');
  const chunk = Buffer.alloc(MiB);
  for (let i = 0; i < mib; i++) {
    randomBytes(MiB / 2).copy(chunk, 0);
    writeSync(fd, chunk);
    h.update(chunk);
  }
  closeSync(fd);
  const layer = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${h.digest('hex')}`, size: mib * MiB };
  const config = Buffer.from(JSON.stringify({ os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: [layer.digest] } }));
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length }, layers: [layer] }),
  );
  return {
    images: [
      {
        descriptor: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(manifest), size: manifest.length, platform: { os: 'linux', architecture: 'amd64' }, annotations: { 'io.containerd.image.name': `docker.io/${name}` } },
        docker: [{ Config: `blobs/sha256/${sha(config).slice(7)}`, RepoTags: [name], Layers: [`blobs/sha256/${layer.digest.slice(7)}`] }],
      },
    ],
    metadataBlobs: [
      { digest: sha(manifest), size: manifest.length, data: manifest },
      { digest: sha(config), size: config.length, data: config },
    ],
    layerBlobs: [{ digest: layer.digest, size: layer.size, path: layerPath }],
  };
}

async function sh(script: string): Promise<number> {
  return (await measure('/bin/bash', ['-c', script])).seconds;
}

async function timeFind(ref: string, dir: string, rounds: number): Promise<{ cli: number; lib: number }> {
  const cli: number[] = [];
  const lib: number[] = [];
  for (let i = 0; i < rounds; i++) {
    cli.push((await measure('node', [AIRPACK, 'find', ref, dir])).seconds);
    const t = performance.now();
    const r = await findImage(ref, [dir]);
    lib.push((performance.now() - t) / 1000);
    if (!r.found) throw new Error(`${ref} not found in ${dir}`);
  }
  return { cli: median(cli), lib: median(lib) };
}

async function main(): Promise<void> {
  requireTools(['/usr/bin/time', '/usr/bin/zstd', '/usr/bin/bsdtar']);
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
      const content = makeContent(work, name, mib);
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
      rows.push(`${kind.padEnd(11)} ${fmt(total(d) / MiB, 0).padStart(6)} MiB  full scan ${fmt(full, 3)} s  find cli ${fmt(f.cli, 3)} s  find lib ${fmt(f.lib * 1000, 2)} ms  lib/full ${fmt(f.lib / full, 4)}x`);
    }

    process.stderr.write(`writing one ${mib} MiB and one ${bigMib} MiB airpack bundle...\n`);
    const small = join(work, 'small.tar.zst');
    const big = join(work, 'big.tar.zst');
    await writeImageArchive(small, makeContent(work, 'rancher/small:v1', mib), { compression: 'zstd', level: 3 });
    await writeImageArchive(big, makeContent(work, 'rancher/big:v1', bigMib), { compression: 'zstd', level: 3 });
    const fs = await timeFind('rancher/small:v1', small, rounds);
    const fb = await timeFind('rancher/big:v1', big, rounds);
    const zstdBig = await sh(`zstd -dc '${big}' > /dev/null`);
    // What verify and extract must do at the least: decode and hash; decode and write a file.
    const zstdHashBig = await sh(`zstd -dc '${big}' | sha256sum > /dev/null`);
    const zstdFileOut = join(work, 'zstd-out.tar');
    const zstdFileBig = await sh(`zstd -dc '${big}' > '${zstdFileOut}'`);
    await rm(zstdFileOut);
    const verifyBig = (await measure('node', [AIRPACK, 'verify', big])).seconds;
    const extractOut = join(work, 'extracted.tar');
    const extractBig = (await measure('node', [AIRPACK, 'extract', big, 'rancher/big:v1', '-o', extractOut])).seconds;

    process.stdout.write(`find over ${files} bundles per kind (target in the last), medians of ${rounds}:\n${rows.join('\n')}\n`);
    process.stdout.write(`find lib: ${mib} MiB bundle ${fmt(fs.lib * 1000, 2)} ms, ${bigMib} MiB bundle ${fmt(fb.lib * 1000, 2)} ms (ratio ${fmt(fb.lib / fs.lib, 2)}x); cli ${fmt(fs.cli, 3)} s vs ${fmt(fb.cli, 3)} s\n`);
    process.stdout.write(`${bigMib} MiB bundle: zstd -dc ${fmt(zstdBig, 2)} s, zstd -dc | sha256sum ${fmt(zstdHashBig, 2)} s, zstd -dc > file ${fmt(zstdFileBig, 2)} s\n`);
    process.stdout.write(`  verify ${fmt(verifyBig, 2)} s: ${fmt(zstdBig / verifyBig, 2)}x the throughput of zstd -dc, ${fmt(zstdHashBig / verifyBig, 2)}x of zstd -dc | sha256sum\n`);
    process.stdout.write(`  extract ${fmt(extractBig, 2)} s: ${fmt(zstdBig / extractBig, 2)}x the throughput of zstd -dc, ${fmt(zstdFileBig / extractBig, 2)}x of zstd -dc > file\n`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();
