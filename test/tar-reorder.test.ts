/**
 * reorderTar: metadata entries first, everything else byte for byte, for
 * every input shape (docker save, GNU long names, ./-prefixed, skopeo
 * docker-archive, gzip, zstd, streams) and every failure (truncation, bad
 * header, oversized zstd window) without leaving files behind.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdtemp, mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import tarStream from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytes } from './helpers/bytes.js';
import { reorderTar } from '../src/index.js';
import { scanTarFile, TarError, type TarEntry } from '../src/tar/index.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airpack-tar-reorder-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});


const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

interface FixtureEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link';
  data?: Buffer;
  linkname?: string;
}

/** Packs entries with tar-stream (ustar, PAX headers for long names), exactly two zero blocks at the end. */
async function pack(entries: FixtureEntry[]): Promise<Buffer> {
  const p = tarStream.pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    p.on('end', resolve);
    p.on('error', reject);
  });
  for (const e of entries) {
    const type = e.type ?? 'file';
    const header = { name: e.name, type, mode: type === 'directory' ? 0o755 : 0o644, mtime: new Date(0), uid: 0, gid: 0, ...(e.linkname ? { linkname: e.linkname } : {}) };
    await new Promise<void>((resolve, reject) => {
      if (type === 'file') p.entry({ ...header, size: e.data?.length ?? 0 }, e.data ?? Buffer.alloc(0), (err) => (err ? reject(err) : resolve()));
      else p.entry(header, (err) => (err ? reject(err) : resolve()));
    });
  }
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

const LONG_NAME = `blobs/sha256/${'a'.repeat(64)}-and-a-component-long-enough-that-ustar-cannot-split-it-${'z'.repeat(60)}`;

/** A docker-save-shaped image tar: layer dirs, OCI blobs, a long name, links, metadata last. */
function dockerSaveEntries(): FixtureEntry[] {
  const layerA = bytes(300_000, 1);
  const layerB = bytes(70_001, 2);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
  const hexA = sha(layerA);
  const hexB = sha(layerB);
  const hexC = sha(config);
  return [
    { name: `${hexA}/`, type: 'directory' },
    { name: `${hexA}/VERSION`, data: Buffer.from('1.0') },
    { name: `${hexA}/json`, data: Buffer.from('{"id":"a"}') },
    { name: `${hexA}/layer.tar`, data: layerA },
    { name: `${hexB}/`, type: 'directory' },
    { name: `${hexB}/layer.tar`, data: layerB },
    { name: 'blobs/', type: 'directory' },
    { name: 'blobs/sha256/', type: 'directory' },
    { name: `blobs/sha256/${hexC}`, data: config },
    { name: LONG_NAME, data: bytes(1234, 3) },
    { name: `blobs/sha256/${hexA}`, type: 'symlink', linkname: `../../${hexA}/layer.tar` },
    { name: `blobs/sha256/${hexB}`, type: 'link', linkname: `${hexB}/layer.tar` },
    { name: 'oci-layout', data: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
    { name: 'index.json', data: Buffer.from('{"schemaVersion":2,"manifests":[]}') },
    { name: 'manifest.json', data: Buffer.from(JSON.stringify([{ Config: `blobs/sha256/${hexC}`, RepoTags: ['example.com/app:1'], Layers: [] }])) },
    { name: 'repositories', data: Buffer.from('{"example.com/app":{"1":"x"}}') },
  ];
}

const FRONT = ['manifest.json', 'repositories', 'index.json', 'oci-layout'];

function bsdtarList(path: string): string[] {
  return execFileSync('bsdtar', ['-tf', path], { encoding: 'utf8' }).split('\n').filter((l) => l !== '');
}

/** Entry name with "./" stripped, for comparing with the front list. */
const bare = (n: string): string => n.replace(/^(\.\/)+/, '');

/** Reads one entry's data from a plain tar file via its offsets. */
async function entryData(file: Buffer, e: TarEntry): Promise<Buffer> {
  return file.subarray(e.dataOffset, e.dataOffset + e.size);
}

/**
 * Checks the reorder contract between `inputTar` (plain tar bytes) and the
 * output file: front entries first in order, all others in input order,
 * every entry's raw header blocks, data and padding identical, exactly
 * two zero blocks after the last entry.
 */
async function expectReordered(inputTar: Buffer, outputPath: string): Promise<void> {
  const inPath = join(dir, `expect-in-${Math.random().toString(16).slice(2)}.tar`);
  await writeFile(inPath, inputTar);
  const input = await scanTarFile(inPath);
  const output = await scanTarFile(outputPath);
  const outBytes = await readFile(outputPath);
  const isFront = (e: TarEntry): boolean => e.type === 'file' && FRONT.includes(bare(e.name));
  const rank = (e: TarEntry): number => FRONT.indexOf(bare(e.name));
  const expected = [
    ...input.entries.filter(isFront).sort((a, b) => rank(a) - rank(b)),
    ...input.entries.filter((e) => !isFront(e)),
  ];
  expect(output.entries.map((e) => e.name)).toEqual(expected.map((e) => e.name));
  for (const [i, want] of expected.entries()) {
    const got = output.entries[i]!;
    expect(got.type, got.name).toBe(want.type);
    expect(got.linkname, got.name).toBe(want.linkname);
    expect(got.size, got.name).toBe(want.size);
    expect(got.rawHeaderBytes.equals(want.rawHeaderBytes), `raw header of ${got.name}`).toBe(true);
    const span = (buf: Buffer, e: TarEntry): Buffer => buf.subarray(e.headerOffset, e.dataOffset + e.paddedDataSize);
    expect(span(outBytes, got).equals(span(inputTar, want)), `bytes of ${got.name}`).toBe(true);
    expect((await entryData(outBytes, got)).equals(await entryData(inputTar, want))).toBe(true);
  }
  // A proper end: exactly two zero blocks right after the last entry, nothing else.
  expect(output.end.zeroBlocks).toBe(2);
  expect(outBytes.length).toBe(output.end.offset + 1024);
  await rm(inPath);
}

async function noTempFiles(d: string): Promise<void> {
  const left = (await readdir(d)).filter((n) => n.includes('.tmp'));
  expect(left).toEqual([]);
}

describe('reorderTar on docker-save-shaped input', () => {
  let input: Buffer;
  let inPath: string;
  let reference: Buffer;

  beforeAll(async () => {
    input = await pack(dockerSaveEntries());
    inPath = join(dir, 'docker-save.tar');
    await writeFile(inPath, input);
  });

  it('puts manifest.json, repositories, index.json, oci-layout first and keeps every entry byte for byte', async () => {
    const out = join(dir, 'docker-save.reordered.tar');
    const result = await reorderTar(inPath, out);
    expect(result).toMatchObject({ compression: 'none', mode: 'file', entries: 16 });
    expect(result.front).toEqual(FRONT);
    const listed = bsdtarList(out);
    expect(listed.slice(0, 4)).toEqual(FRONT);
    expect(listed).toContain(LONG_NAME);
    await expectReordered(input, out);
    reference = await readFile(out);
    expect(result.size).toBe(reference.length);
    await noTempFiles(dir);
  });

  it('extracts with bsdtar to the same tree (long name, symlink, hard link intact)', async () => {
    const x = join(dir, 'x1');
    await mkdir(x);
    execFileSync('bsdtar', ['-xf', join(dir, 'docker-save.reordered.tar'), '-C', x]);
    const entries = dockerSaveEntries();
    for (const e of entries.filter((f) => (f.type ?? 'file') === 'file')) {
      expect((await readFile(join(x, e.name))).equals(e.data ?? Buffer.alloc(0)), e.name).toBe(true);
    }
    const link = entries.find((e) => e.type === 'link')!;
    expect((await readFile(join(x, link.name))).equals((await readFile(join(x, link.linkname!))))).toBe(true);
  });

  it('lists the same entries in the same order as rke2-style bsdtar two passes', async () => {
    const out = join(dir, 'bsdtar-two-pass.tar');
    execFileSync('bsdtar', ['-c', '-f', out, '--include=manifest.json', '--include=repositories', '--include=index.json', '--include=oci-layout', `@${inPath}`]);
    execFileSync('bsdtar', ['-r', '-f', out, '--exclude=manifest.json', '--exclude=repositories', '--exclude=index.json', '--exclude=oci-layout', `@${inPath}`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    // bsdtar's include order is archive order, not pattern order; compare as sets for the front, exactly for the rest.
    const theirs = bsdtarList(out);
    const ours = bsdtarList(join(dir, 'docker-save.reordered.tar'));
    expect(new Set(ours.slice(0, 4))).toEqual(new Set(theirs.slice(0, 4)));
    // bsdtar -r appends in the format it finds (ustar here) and drops names ustar cannot
    // hold ("Pathname too long", exit status 0); we keep the PAX header as is.
    expect(ours).toContain(LONG_NAME);
    const withoutLong = (l: string[]): string[] => l.filter((n) => n !== LONG_NAME);
    expect(withoutLong(ours.slice(4))).toEqual(withoutLong(theirs.slice(4)));
  });

  it('gives identical bytes from gzip input, detected by magic bytes not by name', async () => {
    const gz = join(dir, 'docker-save.tar.bin');
    await writeFile(gz, gzipSync(input));
    const out = join(dir, 'from-gzip.tar');
    const result = await reorderTar(gz, out);
    expect(result.compression).toBe('gzip');
    expect(result.mode).toBe('stream-spilled');
    expect((await readFile(out)).equals(reference)).toBe(true);
    await noTempFiles(dir);
  });

  it('gives identical bytes from zstd input', async () => {
    const zst = join(dir, 'docker-save.tar.zst');
    execFileSync('zstd', ['-q', '-f', '-3', inPath, '-o', zst]);
    const out = join(dir, 'from-zstd.tar');
    const result = await reorderTar(zst, out);
    expect(result.compression).toBe('zstd');
    expect((await readFile(out)).equals(reference)).toBe(true);
  });

  it('reads a long-window zstd input up to the cap and refuses beyond it, leaving no output', async () => {
    const zst = join(dir, 'long-window.tar.zst');
    // Through stdin zstd cannot shrink the window to the input size: the frame declares 2^28.
    await writeFile(zst, execFileSync('zstd', ['-q', '-c', '-3', '--long=28'], { input }));
    const out = join(dir, 'long-window.out.tar');
    const err = await reorderTar(zst, out, { windowLogMax: 27 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ZSTD_WINDOW_TOO_LARGE' });
    expect(String((err as Error).message)).toMatch(/2\^27/);
    expect(existsSync(out)).toBe(false);
    await noTempFiles(dir);
    const ok = await reorderTar(zst, out, { windowLogMax: 28 });
    expect(ok.compression).toBe('zstd');
    expect((await readFile(out)).equals(reference)).toBe(true);
  });

  it('takes a stdin-style stream, holding back the late metadata, with identical bytes', async () => {
    const piped = createReadStream(inPath, { highWaterMark: 1000 }).pipe(new PassThrough());
    const out = join(dir, 'from-stream.tar');
    const result = await reorderTar(piped, out);
    expect(result.mode).toBe('stream-spilled');
    expect((await readFile(out)).equals(reference)).toBe(true);
    await noTempFiles(dir);
  });

  it('streams an already-ordered stream straight through (no spill) and writes it unchanged', async () => {
    const piped = Readable.from([reference], { objectMode: false });
    const out = join(dir, 'again.tar');
    const result = await reorderTar(piped, out);
    expect(result.mode).toBe('stream');
    expect((await readFile(out)).equals(reference)).toBe(true);
  });

  it('leaves an already-ordered file byte-identical', async () => {
    const out = join(dir, 'again-file.tar');
    await reorderTar(join(dir, 'docker-save.reordered.tar'), out);
    expect((await readFile(out)).equals(reference)).toBe(true);
  });

  it('writes to a Writable, from a file and from a stream', async () => {
    for (const source of ['file', 'stream'] as const) {
      const out = join(dir, `to-writable-${source}.tar`);
      const ws = createWriteStream(out);
      const src = source === 'file' ? inPath : createReadStream(inPath);
      const result = await reorderTar(src, ws, { tmpDir: dir });
      expect(result.size).toBe(reference.length);
      expect((await readFile(out)).equals(reference), source).toBe(true);
    }
    await noTempFiles(dir);
  });
});

describe('reorderTar on other writers', () => {
  it('handles GNU tar format (L/K long names and links) with ./ prefixed names', async () => {
    const src = join(dir, 'gnu-src');
    const longDir = join(src, 'd'.repeat(90));
    await mkdir(longDir, { recursive: true });
    await writeFile(join(longDir, 'f'.repeat(90)), bytes(5000, 4));
    await symlink(`${'d'.repeat(90)}/${'f'.repeat(90)}`, join(src, 'long-target-link'));
    await writeFile(join(src, 'manifest.json'), '[]');
    await writeFile(join(src, 'repositories'), '{}');
    await writeFile(join(src, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    const out = join(dir, 'gnu.tar');
    execFileSync('tar', ['--format=gnu', '--sort=name', '--hard-dereference', '-cf', out, '-C', src, '.']);
    const reordered = join(dir, 'gnu.reordered.tar');
    const result = await reorderTar(out, reordered);
    expect(result.front).toEqual(['./manifest.json', './repositories', './oci-layout']);
    expect(bsdtarList(reordered).slice(0, 3)).toEqual(['./manifest.json', './repositories', './oci-layout']);
    const scanned = await scanTarFile(reordered);
    const long = scanned.entries.find((e) => e.name.endsWith('f'.repeat(90)))!;
    // GNU 'L' header block + its data block + the entry header.
    expect(long.rawHeaderBytes.length).toBe(3 * 512);
    const link = scanned.entries.find((e) => e.type === 'symlink')!;
    expect(link.linkname).toBe(`${'d'.repeat(90)}/${'f'.repeat(90)}`);
    await expectReordered(await readFile(out), reordered);
  });

  it('handles a skopeo docker-archive', async () => {
    // Build a minimal OCI layout by hand, then let skopeo write the docker-archive.
    const layout = join(dir, 'oci');
    await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
    const layerTar = await pack([{ name: 'hello.txt', data: Buffer.from('hello\n') }]);
    const layerGz = gzipSync(layerTar);
    const config = Buffer.from(
      JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [`sha256:${sha(layerTar)}`] } }),
    );
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${sha(config)}`, size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${sha(layerGz)}`, size: layerGz.length }],
      }),
    );
    for (const b of [layerGz, config, manifest]) await writeFile(join(layout, 'blobs', 'sha256', sha(b)), b);
    await writeFile(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    await writeFile(
      join(layout, 'index.json'),
      JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${sha(manifest)}`, size: manifest.length }] }),
    );
    const archive = join(dir, 'skopeo.tar');
    execFileSync('skopeo', ['--insecure-policy', 'copy', '-q', `oci:${layout}`, `docker-archive:${archive}:example.com/hello:1`]);
    const reordered = join(dir, 'skopeo.reordered.tar');
    const result = await reorderTar(archive, reordered);
    expect(result.front).toEqual(['manifest.json', 'repositories']);
    expect(bsdtarList(reordered)[0]).toBe('manifest.json');
    await expectReordered(await readFile(archive), reordered);
    // skopeo still reads the result.
    const inspected = JSON.parse(execFileSync('skopeo', ['inspect', '--raw', `docker-archive:${reordered}`], { encoding: 'utf8' })) as { layers: unknown[] };
    expect(inspected.layers).toHaveLength(1);
  });
});

describe('reorderTar failures', () => {
  let input: Buffer;
  beforeAll(async () => {
    input = await pack(dockerSaveEntries());
  });

  /** The reorder of the whole plain input: what a cut-at-boundary or differently compressed copy must give too. */
  async function reorderedWhole(): Promise<string> {
    const out = join(dir, 'whole.reordered.tar');
    if (!existsSync(out)) await reorderTar(await writeTmp('whole-ref.tar', input), out);
    return out;
  }

  async function failsCleanly(inputPathOrStream: string | Readable, outName: string, code: string, message?: RegExp): Promise<void> {
    const out = join(dir, outName);
    const err = await reorderTar(inputPathOrStream, out).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ code });
    if (message) expect((err as Error).message).toMatch(message);
    expect(existsSync(out)).toBe(false);
    await noTempFiles(dir);
  }

  it('rejects a tar truncated inside a layer, naming the entry, and leaves no output', async () => {
    const cut = join(dir, 'truncated.tar');
    await writeFile(cut, input.subarray(0, 200_000));
    await failsCleanly(cut, 'truncated.out.tar', 'TAR_TRUNCATED', /layer\.tar.*expected/);
    const err = (await reorderTar(cut, join(dir, 'truncated.out.tar')).catch((e: unknown) => e)) as TarError;
    expect(err.entry).toMatch(/layer\.tar$/);
  });

  it('rejects a truncated stream and a truncated gzip file', async () => {
    await failsCleanly(Readable.from([input.subarray(0, 200_000)], { objectMode: false }), 'truncated-stream.out.tar', 'TAR_TRUNCATED');
    const gz = join(dir, 'truncated.tar.gz');
    await writeFile(gz, gzipSync(input).subarray(0, 50_000));
    const err = await reorderTar(gz, join(dir, 'truncated-gz.out.tar')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(existsSync(join(dir, 'truncated-gz.out.tar'))).toBe(false);
    await noTempFiles(dir);
  });

  it('takes a tar cut on an entry boundary (no end marker) as ending there', async () => {
    const scanned = await scanTarFile(await writeTmp('whole.tar', input));
    const last = scanned.entries[scanned.entries.length - 1]!;
    const cut = await writeTmp('no-end.tar', input.subarray(0, last.dataOffset + last.paddedDataSize));
    const ok = await reorderTar(cut, join(dir, 'no-end.ok.tar'));
    expect(ok.front).toEqual(FRONT);
    expect(await readFile(join(dir, 'no-end.ok.tar'))).toEqual(await readFile(await reorderedWhole()));
    // The same cut through a stream.
    const fromStream = await reorderTar(Readable.from([await readFile(cut)], { objectMode: false }), join(dir, 'no-end.stream.tar'));
    expect(fromStream.entries).toBe(ok.entries);
  });

  it('rejects a corrupted header with its offset', async () => {
    const bad = Buffer.from(input);
    const scanned = await scanTarFile(await writeTmp('whole2.tar', input));
    const victim = scanned.entries[5]!;
    bad[victim.headerOffset + 10] = 0x41;
    await failsCleanly(await writeTmp('bad-checksum.tar', bad), 'bad-checksum.out.tar', 'TAR_BAD_CHECKSUM', new RegExp(`offset ${victim.headerOffset}`));
  });

  it('rejects when the output Writable fails, from a file and from a stream', async () => {
    const src = await writeTmp('for-failing-writable.tar', input);
    for (const from of ['file', 'stream'] as const) {
      let writes = 0;
      const failing = new Writable({
        write(_chunk, _enc, cb) {
          writes++;
          cb(writes > 2 ? new Error('disk full') : null);
        },
      });
      const source = from === 'file' ? src : Readable.from([input], { objectMode: false });
      await expect(reorderTar(source, failing, { tmpDir: dir })).rejects.toThrow('disk full');
    }
    await noTempFiles(dir);
  });

  it('reorders bzip2 and lz4 input like the plain tar', async () => {
    const want = await readFile(await reorderedWhole());
    for (const tool of ['bzip2', 'lz4']) {
      const packed = await writeTmp(`x.tar.${tool}`, execFileSync(tool, ['-c'], { input }));
      const res = await reorderTar(packed, join(dir, `${tool}.out.tar`));
      expect(res.compression).toBe(tool);
      expect(await readFile(join(dir, `${tool}.out.tar`))).toEqual(want);
    }
  });

  it('rejects input that is not a tar', async () => {
    await failsCleanly(await writeTmp('not-a-tar.txt', Buffer.from('hello world\n'.repeat(100))), 'not-a-tar.out.tar', 'TAR_BAD_CHECKSUM');
    await failsCleanly(await writeTmp('empty.tar', Buffer.alloc(0)), 'empty.out.tar', 'TAR_EMPTY');
  });
});

async function writeTmp(name: string, data: Buffer): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, data);
  return p;
}
