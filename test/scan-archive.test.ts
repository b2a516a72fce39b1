/**
 * find / ls / verify / extract against archives written by `pull` from a
 * real registry (Debian's docker-registry), by skopeo, by the zstd CLI and
 * by bsdtar, plus hand-made hostile tarballs.
 */
import { scanTarFile } from '../src/tar/index.js';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, readdir, readFile, rename, writeFile, mkdir, truncate, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pull } from '../src/index.js';
import { encodeHeader, END_OF_ARCHIVE, padding } from '../src/archive/tar-header.js';
import { isAirpackError } from '../src/errors.js';
import { findImage, listArchive, openArchive, verifyArchive, extractImage } from '../src/scan/index.js';
import { reorderArchive } from '../src/index.js';
import { readSeekTable } from '../src/zstd/index.js';
import { startBlobServer, type BlobServerHandle } from './support/foreign-server.js';
import { seedStandardImages, WINDOWS_VERSIONS, type StandardFixtures } from './support/fixtures.js';
import { startRegistry, type RegistryHandle } from './support/registry.js';
import { spawn } from 'node:child_process';
import { makeTempDir, removeDir } from './support/util.js';

/** Runs a program with stdin closed (no EPIPE when it exits early); never rejects on a non-zero exit. */
function run(cmd: string, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
}

async function runOk(cmd: string, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
  return r;
}

let registry: RegistryHandle;
let blobServer: BlobServerHandle;
let fx: StandardFixtures;
let dir: string;
let bundles: string;
let bundle: string; // airpack zstd bundle: multi (3 platforms: amd64+arm64), single, sharedA
let singleTar: string;
let multiTar: string;
let winBundle: string;

const CLI = join(import.meta.dirname, '..', 'bin', 'airpack.js');
const sha256hex = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  registry = await startRegistry();
  blobServer = await startBlobServer();
  fx = await seedStandardImages(registry, blobServer);
  dir = await makeTempDir('airpack-scan-');
  bundles = join(dir, 'bundles');
  await mkdir(bundles);
  bundle = join(bundles, 'z-images.linux.tar.zst');
  await pull({ images: [fx.multi.ref, fx.single.ref, fx.sharedA.ref], platforms: ['linux/amd64', 'linux/arm64'], skipMissing: true, output: bundle });
  singleTar = join(bundles, 'a-single.tar');
  await pull({ images: [fx.single.ref], output: singleTar });
  multiTar = join(dir, 'multi.tar');
  await pull({ images: [fx.multi.ref], platforms: ['linux/amd64', 'linux/arm64', 'linux/arm/v7'], output: multiTar });
  winBundle = join(bundles, 'windows-ltsc2022.tar.zst');
  await pull({ images: [fx.windows.ref], platforms: ['windows/amd64:ltsc2022'], output: winBundle });
}, 120_000);

afterAll(async () => {
  await registry?.stop();
  await blobServer?.stop();
  if (dir) await removeDir(dir);
});

describe('openArchive: metadata without reading the archive', () => {
  it('answers an airpack zstd bundle from its first frame (seek table, random access)', async () => {
    const meta = await openArchive(winBundle, { depth: 'index' });
    expect(meta.compression).toBe('zstd');
    expect(meta.seekTable).toBe(true);
    expect(meta.mode).toBe('random');
    expect(meta.entriesRead).toBeLessThanOrEqual(3);
    expect(meta.complete).toBe(false);
  });

  it('reads the data of a plain tar\'s metadata entries only, and walks the rest of its headers (a cut layer is found)', async () => {
    const meta = await openArchive(singleTar, { depth: 'index' });
    expect(meta.mode).toBe('random');
    expect(meta.complete).toBe(true);
    // No layer was read: what is held is the small JSON the names and platforms come from.
    expect([...meta.files.values()].every((b) => b.length < 64 * 1024)).toBe(true);
    expect(meta.entriesRead).toBe((await scanTarFile(singleTar)).entries.length);
    expect(meta.dockerManifest?.[0]?.RepoTags).toEqual([`${fx.host}/library/single:latest`]);
  });

  it('reads gzip (even when named .tar) and a foreign single-frame zstd by streaming', async () => {
    const gz = join(dir, 'gz-named.tar');
    await runOk('sh', ['-c', `gzip -c '${singleTar}' > '${gz}'`]);
    const meta = await openArchive(gz);
    expect(meta.compression).toBe('gzip');
    expect(meta.mode).toBe('stream');
    const foreign = join(dir, 'foreign.tar.zst');
    await runOk('zstd', ['-q', '-T0', '-16', '--long=25', multiTar, '-o', foreign]);
    const fm = await openArchive(foreign);
    expect(fm.compression).toBe('zstd');
    expect(fm.seekTable).toBe(false);
    expect(fm.index?.manifests).toHaveLength(1);
  });

  it('names the window a zstd file needs when it exceeds the decoder cap', async () => {
    const foreign = join(dir, 'foreign-window.tar.zst');
    await runOk('zstd', ['-q', '-19', '--long=25', multiTar, '-o', foreign]);
    const err = await openArchive(foreign, { windowLogMax: 10 }).catch((e: unknown) => e);
    expect(isAirpackError(err, 'ARCHIVE_INVALID')).toBe(true);
    expect((err as Error).message).toMatch(/foreign-window\.tar\.zst.*window/i);
  });

  it('reads bzip2, lz4 and xz through the system decompressors', async () => {
    const bz = join(dir, 'x.tar.bz2');
    await runOk('sh', ['-c', `bzip2 -c '${singleTar}' > '${bz}'`]);
    const lz = join(dir, 'x.tar.lz4');
    await runOk('sh', ['-c', `lz4 -q -c '${singleTar}' > '${lz}'`]);
    for (const [file, kind] of [[bz, 'bzip2'], [lz, 'lz4']] as const) {
      const meta = await openArchive(file);
      expect(meta.compression).toBe(kind);
      expect(meta.dockerManifest?.[0]?.RepoTags).toEqual([`${fx.host}/library/single:latest`]);
      const [v] = await verifyArchive([file]);
      expect(v!.problems).toEqual([]);
    }
    const cut = join(dir, 'cut.tar.bz2');
    await writeFile(cut, (await readFile(bz)).subarray(0, 3000));
    const [v] = await verifyArchive([cut]);
    expect(v!.problems.join('\n')).toMatch(/cut\.tar\.bz2/);
    const xz = join(dir, 'x.tar.xz');
    await runOk('sh', ['-c', `xz -c '${singleTar}' > '${xz}'`]);
    // xz too, through the system's xz: one compression table for every command.
    const viaXz = await openArchive(xz);
    expect(viaXz.compression).toBe('xz');
    expect(viaXz.dockerManifest?.[0]?.RepoTags).toEqual([`${fx.host}/library/single:latest`]);
  });
});

describe('findImage', () => {
  it('finds a tag in a directory of bundles, with its platforms', async () => {
    const r = await findImage(`${fx.host}/library/multi:1.0`, [bundles]);
    expect(r.found).toBe(true);
    expect(r.matches.map((m) => m.path)).toEqual([bundle]);
    expect(r.matches[0]!.platforms.sort()).toEqual(['linux/amd64', 'linux/arm64']);
    expect(r.scanned).toBe(3);
  });

  it('finds by manifest digest and by index digest', async () => {
    const child = fx.multi.byPlatform['linux/arm64/v8'] ?? fx.multi.images[1]!;
    const r = await findImage(`${fx.host}/library/multi@${child.manifest.digest}`, [bundles]);
    expect(r.matches.map((m) => m.path)).toEqual([bundle]);
    const top = r.matches[0]!.digest!;
    const r2 = await findImage(`${fx.host}/library/multi@${top}`, [bundles]);
    expect(r2.found).toBe(true);
  });

  it('reports the Windows os.version', async () => {
    const r = await findImage(fx.windows.ref, [bundles]);
    expect(r.matches[0]!.path).toBe(winBundle);
    expect(r.matches[0]!.platforms).toEqual([`windows/amd64:${WINDOWS_VERSIONS.ltsc2022}`]);
  });

  it('says not found, and skips non-archives', async () => {
    await writeFile(join(bundles, 'notes.tar'), 'not a tar at all');
    const r = await findImage(`${fx.host}/library/nothere:1`, [bundles]);
    expect(r.found).toBe(false);
    expect(r.skipped.map((s) => s.path)).toEqual([join(bundles, 'notes.tar')]);
    await rename(join(bundles, 'notes.tar'), join(dir, 'notes.tar'));
  });

  it('matches rancher/x:v1 against docker.io/rancher/x:v1 in a skopeo docker-archive (manifest.json last)', async () => {
    const out = join(dir, 'skopeo-rancher.tar');
    await runOk('skopeo', ['copy', '--quiet', `docker-archive:${singleTar}`, `docker-archive:${out}:docker.io/rancher/x:v1`]);
    const r = await findImage('rancher/x:v1', [out]);
    expect(r.found).toBe(true);
    expect(r.matches[0]!.name).toBe('docker.io/rancher/x:v1');
    expect(r.matches[0]!.platforms).toEqual(['linux/amd64']);
    expect((await findImage('docker.io/rancher/x:v2', [out])).found).toBe(false);
  });

  it('CLI: exit 0 when found, 1 when not, --json', async () => {
    const ok = await run('node', [CLI, 'find', `${fx.host}/library/single:latest`, bundles, '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect((JSON.parse(ok.stdout) as { matches: { path: string }[] }).matches.map((m) => m.path)).toEqual([singleTar, bundle]);
    const no = await run('node', [CLI, 'find', `${fx.host}/library/nothere:1`, bundles]);
    expect(no.code).toBe(1);
    expect(no.stderr).toMatch(/not found/);
  });
});

describe('listArchive', () => {
  it('lists names, digests, platforms and sizes of a multi-image bundle', async () => {
    const [l] = await listArchive([bundle]);
    expect(l!.seekTable).toBe(true);
    const names = l!.images.map((i) => i.names[0]);
    expect(names).toEqual([`${fx.host}/library/multi:1.0`, `${fx.host}/library/single:latest`, `${fx.host}/library/shared-a:1`]);
    const multi = l!.images[0]!;
    expect(multi.platforms.map((p) => p.platform).sort()).toEqual(['linux/amd64', 'linux/arm64']);
    for (const p of multi.platforms) {
      expect(p.configDigest).toMatch(/^sha256:/);
      expect(p.size).toBeGreaterThan(0);
    }
    expect(multi.size).toBe(multi.platforms.reduce((n, p) => n + p.size!, 0));
  });

  it('shows the Windows os.version; CLI --json parses', async () => {
    const res = await run('node', [CLI, 'ls', winBundle, '--json']);
    expect(res.code, res.stderr).toBe(0);
    const [l] = JSON.parse(res.stdout) as { images: { platforms: { osVersion: string }[] }[] }[];
    expect(l!.images[0]!.platforms[0]!.osVersion).toBe(WINDOWS_VERSIONS.ltsc2022);
  });
});

describe('verifyArchive', () => {
  it('passes intact archives: zstd bundle, plain tar, gzip', async () => {
    const gz = join(dir, 'single.tar.gz');
    await runOk('sh', ['-c', `gzip -c '${singleTar}' > '${gz}'`]);
    const results = await verifyArchive([bundle, singleTar, gz, winBundle]);
    for (const r of results) expect(r.problems, r.path).toEqual([]);
    expect(results[0]!.blobs).toBeGreaterThan(5);
  });

  it('names the blob whose bytes were changed, and exits 4', async () => {
    const bad = join(dir, 'corrupt.tar');
    await copyFile(singleTar, bad);
    const buf = await readFile(bad);
    // Flip a byte in the last blob's data (the layer), well inside the file.
    const { stdout } = await runOk('bsdtar', ['-tvf', bad]);
    expect(stdout).toContain('blobs/sha256/');
    const at = buf.length - 1024 - 600;
    buf[at] = buf[at]! ^ 0xff;
    await writeFile(bad, buf);
    const [r] = await verifyArchive([bad]);
    expect(r!.ok).toBe(false);
    expect(r!.problems.join('\n')).toMatch(/entry "blobs\/sha256\/[a-f0-9]{64}": digest sha256:[a-f0-9]{64} \[expected/);
    const cli = await run('node', [CLI, 'verify', bad]);
    expect(cli.code).toBe(4);
    expect(cli.stderr).toMatch(/digest/);
  });

  it('extract refuses a layer whose bytes do not match, leaving no output', async () => {
    const out = join(dir, 'from-corrupt.tar');
    const err = await extractImage(join(dir, 'corrupt.tar'), `${fx.host}/library/single:latest`, { output: out }).catch((e: unknown) => e);
    expect(isAirpackError(err, 'DIGEST_MISMATCH')).toBe(true);
    expect((err as Error).message).toMatch(/corrupt\.tar: entry "blobs\/sha256\//);
    expect(existsSync(out)).toBe(false);
    expect((await readdir(dir)).filter((n) => n.includes('from-corrupt'))).toEqual([]);
  });

  it('cross-checks a sha256sum-*.txt beside the bundle', async () => {
    const sub = join(dir, 'sums');
    await mkdir(sub);
    const copy = join(sub, 'rke2-images.linux-amd64.tar.zst');
    await copyFile(bundle, copy);
    const hex = sha256hex(await readFile(copy));
    await writeFile(join(sub, 'sha256sum-amd64.txt'), `${hex}  rke2-images.linux-amd64.tar.zst\n`);
    const [ok] = await verifyArchive([copy]);
    expect(ok!.ok).toBe(true);
    expect(ok!.checksumFile).toBe(join(sub, 'sha256sum-amd64.txt'));
    await writeFile(join(sub, 'sha256sum-amd64.txt'), `${'0'.repeat(64)}  rke2-images.linux-amd64.tar.zst\n`);
    const [bad] = await verifyArchive([copy]);
    expect(bad!.problems.join('\n')).toMatch(/sha256sum-amd64\.txt/);
  });

  it('reports a truncated bundle without hanging', async () => {
    const cut = join(dir, 'cut.tar.zst');
    await copyFile(bundle, cut);
    await truncate(cut, Math.floor((await stat(cut)).size / 2));
    const [r] = await verifyArchive([cut]);
    expect(r!.ok).toBe(false);
    expect(r!.problems[0]).toMatch(/cut\.tar\.zst/);
  });
});

describe('bundles of many small frames (the next frame decoded on a worker while this one is read)', () => {
  let many: string;
  beforeAll(async () => {
    const plain = join(dir, 'many.tar');
    await runOk('sh', ['-c', `zstd -q -d -c '${bundle}' > '${plain}'`]);
    many = join(dir, 'many.tar.zst');
    await reorderArchive(plain, many, { frameSize: 64 * 1024, level: 1 });
    expect((await readSeekTable(many))!.frames.length).toBeGreaterThanOrEqual(4);
  });

  it('verifies, and extracts the same bytes as from the one-frame bundle', async () => {
    const [v] = await verifyArchive([many]);
    expect(v!.problems).toEqual([]);
    expect(v!.blobs).toBeGreaterThan(5);
    const fromMany = join(dir, 'from-many.tar');
    const fromOne = join(dir, 'from-one.tar');
    await extractImage(many, `${fx.host}/library/multi:1.0`, { platform: 'linux/arm64', output: fromMany });
    await extractImage(bundle, `${fx.host}/library/multi:1.0`, { platform: 'linux/arm64', output: fromOne });
    expect(sha256hex(await readFile(fromMany))).toBe(sha256hex(await readFile(fromOne)));
  });

  it('names the frame that does not decode, in a frame decoded ahead on the worker', async () => {
    const table = (await readSeekTable(many))!;
    const bad = join(dir, 'many-corrupt.tar.zst');
    const buf = await readFile(many);
    // Garble the last frame: frames from the third on are decoded ahead on the worker.
    const f = table.frames[table.frames.length - 1]!;
    expect(f.index).toBeGreaterThanOrEqual(3);
    buf.fill(0x55, f.compressedOffset + 8, f.compressedOffset + Math.min(f.compressedSize - 4, 200));
    await writeFile(bad, buf);
    const [r] = await verifyArchive([bad]);
    expect(r!.ok).toBe(false);
    expect(r!.problems.join('\n')).toMatch(new RegExp(`many-corrupt\\.tar\\.zst: frame ${f.index} at offset ${f.compressedOffset}`));
  });
});

describe('extractImage', () => {
  it('writes one platform of a multi-image zstd bundle as a loadable archive (skopeo)', async () => {
    const out = join(dir, 'out', 'multi-arm64.tar');
    await mkdir(join(dir, 'out'));
    const res = await extractImage(bundle, `${fx.host}/library/multi:1.0`, { platform: 'linux/arm64', output: out });
    const want = fx.multi.images.find((i) => i.platform.architecture === 'arm64')!;
    expect(res.digest).toBe(want.manifest.digest);
    const insp = await runOk('skopeo', ['inspect', `docker-archive:${out}`]);
    const info = JSON.parse(insp.stdout) as { Architecture: string; RepoTags: string[]; Layers: string[] };
    expect(info.Architecture).toBe('arm64');
    expect(info.Layers).toHaveLength(want.layers.length);
    // The OCI side keeps the registry's manifest byte for byte.
    const oci = await runOk('skopeo', ['inspect', '--raw', `oci-archive:${out}`]);
    expect(sha256hex(Buffer.from(oci.stdout))).toBe(want.manifest.digest.slice(7));
    const [v] = await verifyArchive([out]);
    expect(v!.problems).toEqual([]);
    const names = (await runOk('bsdtar', ['-tf', out])).stdout.trim().split('\n');
    expect(names.slice(0, 3)).toEqual(['manifest.json', 'index.json', 'oci-layout']);
    // Nothing but the output left in the output directory (scratch removed).
    expect(await readdir(join(dir, 'out'))).toEqual(['multi-arm64.tar']);
  });

  it('keeps the whole index when no platform is given, via the CLI', async () => {
    const out = join(dir, 'multi-all.tar.zst');
    const res = await run('node', [CLI, 'extract', multiTar, `${fx.host}/library/multi:1.0`, '-o', out, '--json']);
    expect(res.code, res.stderr).toBe(0);
    const [l] = await listArchive([out]);
    expect(l!.images[0]!.platforms).toHaveLength(3);
    expect(l!.images[0]!.digest).toBe((await openArchive(multiTar)).index!.manifests[0]!.digest);
  });

  it('extracts out of a foreign single-frame zstd (streaming) and a bsdtar-reordered tar with manifest.json last', async () => {
    const foreign = join(dir, 'foreign2.tar.zst');
    await runOk('zstd', ['-q', '-T0', '-19', '--long=25', multiTar, '-o', foreign]);
    const out = join(dir, 'from-foreign.tar');
    const res = await extractImage(foreign, `${fx.host}/library/multi:1.0`, { platform: 'linux/arm/v7', output: out });
    expect(res.platforms).toEqual(['linux/arm/v7']);
    expect((await runOk('skopeo', ['inspect', `docker-archive:${out}`])).stdout).toContain('"Architecture": "arm"');

    const x = join(dir, 'unpacked');
    await mkdir(x);
    await runOk('bsdtar', ['-xf', multiTar, '-C', x]);
    const last = join(dir, 'manifest-last.tar');
    await runOk('bsdtar', ['-cf', last, '-C', x, 'blobs', 'oci-layout', 'index.json', 'manifest.json']);
    const names = (await runOk('bsdtar', ['-tf', last])).stdout.trim().split('\n');
    expect(names.at(-1)).toBe('manifest.json');
    const found = await findImage(`${fx.host}/library/multi:1.0`, [last]);
    expect(found.matches[0]!.platforms.sort()).toEqual(['linux/amd64', 'linux/arm/v7', 'linux/arm64']);
    const [v] = await verifyArchive([last]);
    expect(v!.problems).toEqual([]);
  });

  it('extracts from a docker-save-only archive (skopeo docker-archive), rebuilding the manifest', async () => {
    const src = join(dir, 'skopeo-rancher2.tar');
    await runOk('skopeo', ['copy', '--quiet', `docker-archive:${singleTar}`, `docker-archive:${src}:docker.io/rancher/x:v2`]);
    const out = join(dir, 'rancher-x.tar');
    const res = await extractImage(src, 'rancher/x:v2', { platform: 'linux/amd64', output: out });
    expect(res.platforms).toEqual(['linux/amd64']);
    const info = JSON.parse((await runOk('skopeo', ['inspect', `docker-archive:${out}`])).stdout) as { RepoTags: string[]; Layers: string[] };
    expect(info.Layers).toHaveLength(fx.single.layers.length);
    const [v] = await verifyArchive([out]);
    expect(v!.problems).toEqual([]);
    expect((await findImage('docker.io/rancher/x:v2', [out])).found).toBe(true);
  });

  it('fails clearly for an image or platform that is not there, writing nothing', async () => {
    const out = join(dir, 'none.tar');
    const e1 = await extractImage(bundle, `${fx.host}/library/nothere:1`, { output: out }).catch((e: unknown) => e);
    expect(isAirpackError(e1, 'NOT_FOUND')).toBe(true);
    const e2 = await extractImage(bundle, `${fx.host}/library/single:latest`, { platform: 'linux/s390x', output: out }).catch((e: unknown) => e);
    expect(isAirpackError(e2, 'PLATFORM_NOT_FOUND')).toBe(true);
    expect(existsSync(out)).toBe(false);
  });
});

/** A tar entry header with any type flag and link name. */
function header(name: string, size: number, typeflag = '0', linkname = ''): Buffer {
  const h = encodeHeader({ name, size, type: 'file', mtime: 0 });
  h.write(typeflag, 156, 1, 'ascii');
  h.fill(0, 157, 257);
  h.write(linkname, 157, 100, 'utf8');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  return h;
}

function tarOf(entries: { name: string; data?: string; type?: string; link?: string }[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = Buffer.from(e.data ?? '');
    parts.push(header(e.name, data.length, e.type ?? '0', e.link ?? ''), data, padding(data.length));
  }
  parts.push(END_OF_ARCHIVE);
  return Buffer.concat(parts);
}

describe('hostile input', () => {
  it('entries with .. and absolute paths, links pointing outside: named, nothing written', async () => {
    const f = join(dir, 'hostile.tar');
    await writeFile(
      f,
      tarOf([
        { name: 'manifest.json', data: JSON.stringify([{ Config: 'c.json', RepoTags: ['evil:1'], Layers: ['l.tar'] }]) },
        { name: 'c.json', data: '{"os":"linux","architecture":"amd64"}' },
        { name: '../../escape', data: 'x' },
        { name: '/etc/evil', data: 'x' },
        { name: 'l.tar', type: '2', link: '../../../etc/passwd' },
        { name: 'hard', type: '1', link: '/etc/shadow' },
      ]),
    );
    const [r] = await verifyArchive([f]);
    const text = r!.problems.join('\n');
    expect(text).toMatch(/entry "\.\.\/\.\.\/escape": path points outside/);
    expect(text).toMatch(/entry "\/etc\/evil": path points outside/);
    expect(text).toMatch(/entry "l\.tar": symlink to "\.\.\/\.\.\/\.\.\/etc\/passwd" points outside/);
    expect(text).toMatch(/entry "hard": hardlink to "\/etc\/shadow" points outside/);
    expect(text).toMatch(/Layers\[0\] "l\.tar" is not in the archive/);
    expect(existsSync(join(dir, '..', 'escape'))).toBe(false);
  });

  it('manifest.json naming paths outside the archive or missing files', async () => {
    const f = join(dir, 'hostile-manifest.tar');
    await writeFile(f, tarOf([{ name: 'manifest.json', data: JSON.stringify([{ Config: '../../etc/passwd', RepoTags: [], Layers: [] }]) }]));
    const err = await openArchive(f).catch((e: unknown) => e);
    expect(isAirpackError(err, 'ARCHIVE_INVALID')).toBe(true);
    expect((err as Error).message).toMatch(/manifest\.json.*Config.*"\.\.\/\.\.\/etc\/passwd" points outside/);
    const g = join(dir, 'missing.tar');
    await writeFile(g, tarOf([{ name: 'manifest.json', data: JSON.stringify([{ Config: 'nope.json', RepoTags: ['a:1'], Layers: ['gone/layer.tar'] }]) }]));
    const [r] = await verifyArchive([g]);
    expect(r!.problems.join('\n')).toMatch(/Config "nope\.json" is not in the archive/);
    expect(r!.problems.join('\n')).toMatch(/Layers\[0\] "gone\/layer\.tar" is not in the archive/);
  });

  it('bad JSON in manifest.json names the file and entry', async () => {
    const f = join(dir, 'badjson.tar');
    await writeFile(f, tarOf([{ name: 'manifest.json', data: '[{"Config": ' }]));
    const err = await openArchive(f).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/badjson\.tar: entry "manifest\.json": not valid JSON/);
    const cli = await run('node', [CLI, 'ls', f]);
    expect(cli.code).toBe(4);
  });

  it('truncated plain tar and oversized header sizes: clear errors, no hang', async () => {
    const f = join(dir, 'trunc.tar');
    const full = tarOf([{ name: 'manifest.json', data: '[]' }, { name: 'blobs/sha256/' + 'a'.repeat(64), data: 'y'.repeat(5000) }]);
    await writeFile(f, full.subarray(0, 2048));
    const [r] = await verifyArchive([f]);
    expect(r!.problems.join('\n')).toMatch(/trunc\.tar.*(truncat|ends)/i);
    const big = header('manifest.json', 0);
    big.write('77777777777', 124, 11, 'ascii');
    big.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of big) sum += b;
    big.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
    const g = join(dir, 'oversized.tar');
    await writeFile(g, Buffer.concat([big, END_OF_ARCHIVE]));
    const err = await openArchive(g).catch((e: unknown) => e);
    expect(isAirpackError(err, 'ARCHIVE_INVALID')).toBe(true);
    expect((err as Error).message).toMatch(/oversized\.tar/);
  });
});
