/**
 * Seeded fuzz of the readers (issue 11): random and mutated inputs through
 * the tar reader (positional and streamed), the reorderer, the zstd frame
 * reader and seek table, the entry index, and the documents (index.json,
 * manifests, configs, manifest.json) as ls, find, verify and extract read
 * them. Each case must end within its time limit, either reading the input
 * or failing with a clear error (a message, and an exit code the README
 * documents: never 70, "a bug"); a failed reorder or extract leaves no
 * output behind.
 *
 * Bounded and deterministic: FUZZ_SEED picks another seed, FUZZ_SCALE
 * multiplies the iterations. A failure names the seed, the case and a copy
 * of the input that made it fail.
 */
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { execFileSync } from 'node:child_process';
import tarStream from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exitCodeFor, extractImage, findImage, listArchive, pull, push, reorderTar, scanTarFile, SeekableZstdFile, toAirpackError, verifyArchive } from '../src/index.js';
import { listTarStream } from '../src/tar/stream-parser.js';
import { decodeEntryIndex, ENTRY_INDEX_MAGIC } from '../src/zstd/entry-index.js';
import { parseDockerManifest, parseIndex, parseManifest } from '../src/image/documents.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20261202);
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const LIMIT_MS = 10_000;
/** A malformed file is exit 4 (README); never 70 (a bug) or 5 (I/O: the file is readable). */
const MALFORMED = [4];
/** Asking a malformed archive for an image may also find it is not there, or not an image (3). */
const ASKED = [3, 4];

let dir: string;
let plainTar: Buffer;
let bundle: Buffer;
const counts: Record<string, number> = {};
let baseImages: unknown;

/** The images of a listing, without the file's own facts. */
const imagesIn = (l: Awaited<ReturnType<typeof listArchive>>): unknown => l[0]?.images.map((i) => ({ names: i.names, digest: i.digest, platforms: i.platforms }));

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = ReturnType<typeof prng>;
const int = (r: Rand, n: number): number => Math.floor(r() * n);
const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/** One mutation of `input`: flipped bytes, a lying tar size field, a cut, inserted or repeated bytes, or noise. */
function mutate(r: Rand, input: Buffer, hot?: { start: number; end: number }): Buffer {
  const out = Buffer.from(input);
  const at = (): number => (hot && r() < 0.5 ? hot.start + int(r, Math.max(1, hot.end - hot.start)) : int(r, out.length));
  switch (int(r, 7)) {
    case 0: {
      for (let i = 1 + int(r, 8); i > 0; i--) {
        const p = at();
        out[p] = out[p]! ^ (1 + int(r, 255));
      }
      return out;
    }
    case 1: {
      // A tar header's size field (offset 124, 12 bytes) says something else: octal, base-256, or garbage.
      const block = Math.floor(at() / 512) * 512;
      const forms = [
        () => Buffer.from(`${int(r, 2 ** 33).toString(8).padStart(11, '0')}\0`),
        () => Buffer.from([0x80, ...Array.from({ length: 11 }, () => int(r, 256))]),
        () => Buffer.from(Array.from({ length: 12 }, () => int(r, 256))),
      ];
      forms[int(r, forms.length)]!().copy(out, block + 124);
      return out;
    }
    case 2:
      return out.subarray(0, at());
    case 3: {
      const p = at();
      return Buffer.concat([out.subarray(0, p), Buffer.from(Array.from({ length: 1 + int(r, 1024) }, () => int(r, 256))), out.subarray(p)]);
    }
    case 4: {
      const p = Math.floor(at() / 512) * 512;
      return Buffer.concat([out.subarray(0, p + 512), out.subarray(p, p + 512 * (1 + int(r, 4))), out.subarray(p + 512)]);
    }
    case 5: {
      const p = at();
      out.fill(int(r, 2) ? 0 : 0xff, p, Math.min(out.length, p + 1 + int(r, 600)));
      return out;
    }
    default:
      return Buffer.from(Array.from({ length: int(r, 4096) }, () => int(r, 256)));
  }
}

/** Runs `op`, which must finish within the limit; its failure, if any, must be a clear data error. */
async function survives(what: string, input: Buffer, op: () => Promise<unknown>, allowed: readonly number[] = MALFORMED): Promise<'read' | 'refused'> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${LIMIT_MS} ms (a hang)`)), LIMIT_MS);
  });
  const keep = (): string => {
    const file = join(tmpdir(), `airpack-fuzz-${SEED}-${sha(input).slice(0, 12)}`);
    writeFileSync(file, input);
    return file;
  };
  try {
    await Promise.race([op(), hang]);
    return 'read';
  } catch (err) {
    const code = exitCodeFor(err);
    const message = (toAirpackError(err) as Error).message;
    if (!allowed.includes(code) || !message) {
      throw new Error(`${what} (seed ${SEED}, input kept at ${keep()}): exit ${code}: ${(err as Error).stack ?? String(err)}`);
    }
    return 'refused';
  } finally {
    clearTimeout(timer);
  }
}

// --- inputs that look like what airpack reads

function tarOf(entries: Array<[string, Buffer]>): Promise<Buffer> {
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => chunks.push(c as Buffer));
  for (const [name, data] of entries) pack.entry({ name, mtime: new Date(0) }, data);
  pack.finalize();
  return new Promise((resolve) => pack.on('end', () => resolve(Buffer.concat(chunks))));
}

interface Documents {
  index: unknown;
  manifest: unknown;
  config: unknown;
  docker: unknown;
  layer: Buffer;
}

/** An OCI + docker archive whose blobs are named by their (possibly mutated) content, so mutated documents reach the parsers behind the digest checks. */
function archiveEntries(d: Documents): Array<[string, Buffer]> {
  const configBytes = Buffer.from(JSON.stringify(d.config));
  const configHex = sha(configBytes);
  const layerHex = sha(d.layer);
  const manifest = d.manifest as { config?: { digest?: string; size?: number }; layers?: Array<{ digest?: string; size?: number }> } | null;
  // Point the manifest at the blobs where its shape still allows, so the digests line up.
  if (manifest && typeof manifest === 'object') {
    if (manifest.config && typeof manifest.config === 'object' && typeof manifest.config.digest === 'string') Object.assign(manifest.config, { digest: `sha256:${configHex}`, size: configBytes.length });
    if (Array.isArray(manifest.layers) && manifest.layers[0] && typeof manifest.layers[0] === 'object') Object.assign(manifest.layers[0], { digest: `sha256:${layerHex}`, size: d.layer.length });
  }
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  const manifestHex = sha(manifestBytes);
  const index = d.index as { manifests?: Array<{ digest?: string; size?: number }> } | null;
  if (index && typeof index === 'object' && Array.isArray(index.manifests) && index.manifests[0] && typeof index.manifests[0] === 'object') {
    Object.assign(index.manifests[0], { digest: `sha256:${manifestHex}`, size: manifestBytes.length });
  }
  return [
    ['manifest.json', Buffer.from(JSON.stringify(d.docker))],
    ['index.json', Buffer.from(JSON.stringify(index))],
    ['oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}')],
    [`blobs/sha256/${manifestHex}`, manifestBytes],
    [`blobs/sha256/${configHex}`, configBytes],
    [`blobs/sha256/${layerHex}`, d.layer],
  ];
}

async function baseDocuments(): Promise<Documents> {
  const layerTar = await tarOf([['etc/hostname', Buffer.from('fuzz\n')], ['bin/tool', Buffer.alloc(20_000, 7)]]);
  const layer = gzipSync(layerTar);
  const config = { architecture: 'amd64', os: 'linux', config: { Env: ['PATH=/bin'] }, rootfs: { type: 'layers', diff_ids: [`sha256:${sha(layerTar)}`] }, history: [{ created_by: 'fuzz' }] };
  const configHex = sha(JSON.stringify(config));
  return {
    layer,
    config,
    manifest: {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${configHex}`, size: 0 },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: 'sha256:x', size: 0 }],
    },
    index: {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: 'sha256:x', size: 0, platform: { os: 'linux', architecture: 'amd64' }, annotations: { 'io.containerd.image.name': 'example.com/fuzz/app:1', 'org.opencontainers.image.ref.name': '1' } }],
    },
    docker: [{ Config: `blobs/sha256/${configHex}`, RepoTags: ['example.com/fuzz/app:1'], Layers: [`blobs/sha256/${sha(layer)}`] }],
  };
}

/** A structural change somewhere in a JSON value: a value of another type, a key gone, an absurd number, a digest of another algorithm. */
function mutateJson(r: Rand, value: unknown, depth = 0): unknown {
  const wild = (): unknown => {
    const choices: Array<() => unknown> = [
      () => null,
      () => -1,
      () => 2 ** 53 + int(r, 1000),
      () => 1e308,
      () => 'sha512:' + 'a'.repeat(128),
      () => 'sha256:' + 'A'.repeat(64),
      () => '../../../etc/passwd',
      () => [],
      () => ({}),
      () => 'x'.repeat(int(r, 5000)),
      () => [null, 1, 'two'],
      () => ({ digest: 'sha256:' + '0'.repeat(64), size: 2 ** 40, mediaType: 'application/vnd.oci.image.index.v1+json' }),
      () => true,
    ];
    return choices[int(r, choices.length)]!();
  };
  if (depth > 6 || value === null || typeof value !== 'object' || r() < 0.15) return wild();
  if (Array.isArray(value)) {
    const copy = [...value];
    if (copy.length === 0 || r() < 0.2) copy.push(wild());
    else {
      const i = int(r, copy.length);
      copy[i] = mutateJson(r, copy[i], depth + 1);
    }
    return copy;
  }
  const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) };
  const keys = Object.keys(copy);
  const k = keys[int(r, keys.length)];
  if (k === undefined || r() < 0.15) copy[['mediaType', 'manifests', 'layers', 'config', 'platform', 'size'][int(r, 6)]!] = wild();
  else if (r() < 0.2) delete copy[k];
  else copy[k] = mutateJson(r, copy[k], depth + 1);
  return copy;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airpack-fuzz-'));
  plainTar = await tarOf(archiveEntries(await baseDocuments()));
  await writeFile(join(dir, 'base.tar'), plainTar);
  // A real bundle: seek table, entry index, metadata frame.
  execFileSync(process.execPath, [join(__dirname, '..', 'bin', 'airpack.js'), 'bundle', join(dir, 'base.tar'), '-o', join(dir, 'base.tar.zst'), '--level', '3', '--frame-size', '64k', '-q'], { cwd: dir });
  bundle = readFileSync(join(dir, 'base.tar.zst'));
  baseImages = imagesIn(await listArchive([join(dir, 'base.tar.zst')]));
}, 60_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  // How much ran, for the closing note and CI logs.
  console.log(`fuzz seed ${SEED}: ${Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(', ')}`);
});

function tally(name: string, outcome: 'read' | 'refused'): void {
  counts[`${name} ${outcome}`] = (counts[`${name} ${outcome}`] ?? 0) + 1;
}

describe('fuzz', () => {
  it('the tar reader, positional and streamed, on mutated tars and noise', async () => {
    const r = prng(SEED);
    const file = join(dir, 'tar-case.tar');
    for (let i = 0; i < 400 * SCALE; i++) {
      const input = mutate(r, plainTar);
      writeFileSync(file, input);
      let seekNames: string[] = [];
      const seek = await survives(`scanTarFile case ${i}`, input, async () => {
        seekNames = (await scanTarFile(file)).entries.map((e) => e.name);
      });
      // Streamed in uneven chunks, as a pipe delivers them.
      const chunks: Buffer[] = [];
      for (let at = 0; at < input.length; ) {
        const n = 1 + int(r, 3000);
        chunks.push(input.subarray(at, at + n));
        at += n;
      }
      let streamNames: string[] = [];
      const stream = await survives(`listTarStream case ${i}`, input, async () => {
        streamNames = (await listTarStream(Readable.from(chunks))).entries.map((e) => e.name);
      });
      // One set of rules: the file walk and the stream walk agree on every input.
      expect({ case: i, stream, streamNames }, `seed ${SEED}`).toEqual({ case: i, stream: seek, streamNames: seekNames });
      tally('tar', seek);
    }
  }, 120_000);

  it('the reorderer: a result that is a tar again, or an error and no output', async () => {
    const r = prng(SEED + 1);
    const file = join(dir, 'reorder-case.tar');
    for (let i = 0; i < 150 * SCALE; i++) {
      const input = mutate(r, plainTar);
      writeFileSync(file, input);
      const out = join(dir, `reordered-${i}.tar`);
      const outcome = await survives(`reorderTar case ${i}`, input, () => reorderTar(file, out));
      tally('reorder', outcome);
      if (outcome === 'refused') expect(existsSync(out), `reorder case ${i} (seed ${SEED}) left ${out}`).toBe(false);
      else {
        await scanTarFile(out);
        await rm(out);
      }
    }
  }, 120_000);

  it('the zstd frame reader, seek table and entry index, on mutated bundles', async () => {
    const r = prng(SEED + 2);
    const file = join(dir, 'bundle-case.tar.zst');
    // Half the mutations land in the last 4 KiB: the seek table and the entry index live there.
    const tail = { start: Math.max(0, bundle.length - 4096), end: bundle.length };
    for (let i = 0; i < 120 * SCALE; i++) {
      const input = mutate(r, bundle, tail);
      writeFileSync(file, input);
      tally(
        'zstd read',
        await survives(`SeekableZstdFile case ${i}`, input, async () => {
          const z = await SeekableZstdFile.open(file);
          try {
            await z.entryIndex();
            const size = z.size;
            await z.readRange(0, Math.min(size, 8192));
            if (size > 0) {
              const at = int(r, size);
              await z.readRange(at, Math.min(4096, size - at));
            }
          } finally {
            await z.close();
          }
        }),
      );
      let listed: unknown;
      tally('bundle ls', await survives(`listArchive case ${i}`, input, async () => {
        listed = imagesIn(await listArchive([file]));
      }));
      let ok = false;
      tally('bundle verify', await survives(`verifyArchive case ${i}`, input, async () => {
        ok = (await verifyArchive([file]))[0]!.ok;
      }));
      // A bundle verify passes holds the images the original did.
      if (ok) expect(listed, `case ${i} (seed ${SEED}): verify passed a bundle that lists other images`).toEqual(baseImages);
      tally('bundle verify ok', ok ? 'read' : 'refused');
    }
  }, 180_000);

  it('the entry index decoder on mutated frames', async () => {
    const r = prng(SEED + 3);
    const payload = Buffer.from(JSON.stringify({ airpackEntryIndex: 1, entries: [['manifest.json', 0, 100], ['index.json', 1024, 300], ['blobs/sha256/' + 'a'.repeat(64), 2048, 5000]] }));
    const frame = Buffer.alloc(8 + payload.length);
    frame.writeUInt32LE(ENTRY_INDEX_MAGIC, 0);
    frame.writeUInt32LE(payload.length, 4);
    payload.copy(frame, 8);
    expect(decodeEntryIndex(frame, 'base')).toHaveLength(3);
    for (let i = 0; i < 1000 * SCALE; i++) {
      const input = r() < 0.5 ? mutate(r, frame) : Buffer.concat([frame.subarray(0, 8), Buffer.from(JSON.stringify(mutateJson(r, JSON.parse(payload.toString()))))]);
      if (input.length >= 8 && r() < 0.5) input.writeUInt32LE(input.length - 8, 4);
      tally('entry index', await survives(`decodeEntryIndex case ${i}`, input, async () => decodeEntryIndex(input, 'fuzz')));
    }
  });

  it('documents: mutated index.json, manifests, configs and manifest.json through ls, find, verify, extract, pull and push', async () => {
    const r = prng(SEED + 4);
    const base = await baseDocuments();
    const file = join(dir, 'docs-case.tar');
    for (let i = 0; i < 150 * SCALE; i++) {
      const d = structuredClone(base);
      const which = int(r, 4);
      if (which === 0) d.index = mutateJson(r, d.index);
      else if (which === 1) d.manifest = mutateJson(r, d.manifest);
      else if (which === 2) d.config = mutateJson(r, d.config);
      else d.docker = mutateJson(r, d.docker);
      const input = await tarOf(archiveEntries(d));
      writeFileSync(file, input);
      // The parsers alone, then the commands.
      for (const [name, data] of archiveEntries(structuredClone(d))) {
        const parse = name === 'manifest.json' ? parseDockerManifest : name === 'index.json' ? parseIndex : name.startsWith('blobs/') && data[0] === 0x7b ? parseManifest : undefined;
        if (parse) tally('document parse', await survives(`parse ${name} case ${i}`, input, async () => parse(data, name)));
      }
      tally('docs ls', await survives(`ls case ${i}`, input, () => listArchive([file])));
      tally('docs find', await survives(`find case ${i}`, input, () => findImage('example.com/fuzz/app:1', [file]), ASKED));
      tally('docs verify', await survives(`verify case ${i}`, input, () => verifyArchive([file])));
      const out = join(dir, `extracted-${i}.tar`);
      const extracted = await survives(`extract case ${i}`, input, () => extractImage(file, 'example.com/fuzz/app:1', { output: out }), ASKED);
      tally('docs extract', extracted);
      if (extracted === 'refused') expect(existsSync(out), `extract case ${i} left ${out}`).toBe(false);
      else await rm(out);
      // pull, bundle and push resolve through the archive source (source/resolve.ts), a reader of their own.
      const pulled = join(dir, `pulled-${i}.tar`);
      const pulledOk = await survives(`pull case ${i}`, input, () => pull({ images: [`docker-archive:${file}:example.com/fuzz/app:1`], output: pulled }), ASKED);
      tally('docs pull', pulledOk);
      if (pulledOk === 'refused') expect(existsSync(pulled), `pull case ${i} left ${pulled}`).toBe(false);
      else await rm(pulled);
      tally('docs push (dry run)', await survives(`push case ${i}`, input, () => push({ sources: [file], registry: '127.0.0.1:1', dryRun: true }), ASKED));
    }
  }, 180_000);
});

// Not used by the cases themselves, kept for reproducing one: FUZZ_INPUT=path runs the readers on that file.
if (process.env.FUZZ_INPUT) {
  it('reproduces FUZZ_INPUT', async () => {
    const file = join(dir, 'repro');
    copyFileSync(process.env.FUZZ_INPUT!, file);
    const input = readFileSync(file);
    await survives('scanTarFile', input, () => scanTarFile(file));
    await survives('listArchive', input, () => listArchive([file]));
    await survives('verifyArchive', input, () => verifyArchive([file]));
  });
}
