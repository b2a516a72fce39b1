/**
 * `airpack reorder` as a user runs it (node bin/airpack.js, built dist/):
 * a docker-save-shaped tarball (manifest.json and repositories last) comes
 * out with them first in `bsdtar -tf`, every entry's bytes unchanged, from
 * files and through stdin/stdout, plain, zstd-framed and gzip.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import tarStream from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytes } from './helpers/bytes.js';
import { readFirstFrame, readSeekTable } from '../src/zstd/index.js';
import { readTar } from './helpers/tar.js';
import { runOk } from './support/util.js';

const root = resolve(__dirname, '..');
const bin = join(root, 'bin', 'airpack.js');
let dir: string;
let input: string;

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');


/** A tar shaped like `docker save` output: layer dirs, config, then manifest.json and repositories last. */
async function dockerSaveTar(): Promise<Buffer> {
  const p = tarStream.pack();
  const chunks: Buffer[] = [];
  p.on('data', (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((res, rej) => {
    p.on('end', res);
    p.on('error', rej);
  });
  const layerId = 'a'.repeat(64);
  const config = `${'c'.repeat(64)}.json`;
  const entry = (name: string, data: Buffer, type: 'file' | 'directory' = 'file'): Promise<void> =>
    new Promise((res, rej) => {
      const header = { name, type, mtime: new Date(0), mode: type === 'file' ? 0o644 : 0o755, size: type === 'file' ? data.length : 0 };
      const cb = (err?: Error | null): void => (err ? rej(err) : res());
      if (type === 'file') p.entry(header, data, cb);
      else p.entry(header, cb);
    });
  await entry(`${layerId}/`, Buffer.alloc(0), 'directory');
  await entry(`${layerId}/VERSION`, Buffer.from('1.0'));
  await entry(`${layerId}/json`, Buffer.from('{"id":"a"}'));
  await entry(`${layerId}/layer.tar`, bytes(300_000, 7));
  await entry(config, Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'));
  await entry('manifest.json', Buffer.from(JSON.stringify([{ Config: config, RepoTags: ['busybox:1.36'], Layers: [`${layerId}/layer.tar`] }])));
  await entry('repositories', Buffer.from('{"busybox":{"1.36":"a"}}'));
  p.finalize();
  await done;
  return Buffer.concat(chunks);
}

async function airpack(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return promisify(execFile)(process.execPath, [bin, ...args], { cwd: dir, maxBuffer: 64 * 1024 * 1024 });
}

async function expectReordered(out: string): Promise<void> {
  const { stdout } = await runOk('bsdtar', ['-tf', out]);
  const names = stdout.trim().split('\n');
  expect(names.slice(0, 2)).toEqual(['manifest.json', 'repositories']);
  const before = await readTar(input);
  const after = await readTar(out);
  expect(after.map((e) => e.name).sort()).toEqual(before.map((e) => e.name).sort());
  for (const e of before) expect(sha(after.find((a) => a.name === e.name)!.data), e.name).toBe(sha(e.data));
}

beforeAll(async () => {
  // The bin runs dist/, which `npm test` builds first. Rebuilding it here while other test files
  // run the CLI made them fail at random (a module half rewritten): build only when it is missing.
  if (!existsSync(join(root, 'dist/cli/reorder.js'))) {
    await new Promise<void>((res) => execFile(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')], () => res()));
  }
  if (!existsSync(join(root, 'dist/cli/reorder.js'))) throw new Error('dist/cli/reorder.js missing: npx tsc -p tsconfig.json failed');
  dir = await mkdtemp(join(tmpdir(), 'airpack-cli-reorder-'));
  input = join(dir, 'save.tar');
  await writeFile(input, await dockerSaveTar());
}, 120_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('airpack reorder', () => {
  it('moves manifest.json and repositories to the front of a docker save tarball, bytes unchanged', async () => {
    const { stdout } = await runOk('bsdtar', ['-tf', input]);
    expect(stdout.trim().split('\n')[0]).not.toBe('manifest.json');
    const out = join(dir, 'out.tar');
    const res = await airpack(['reorder', input, '-o', out]);
    expect(res.stdout).toMatch(/reordered .* 7 entries, front manifest.json, repositories/);
    await expectReordered(out);
  });

  it('reads stdin and writes stdout, same bytes as the file path', async () => {
    const out = join(dir, 'piped.tar');
    await new Promise<void>((res, rej) => {
      const child = spawn(process.execPath, [bin, 'reorder'], { cwd: dir, stdio: ['pipe', 'pipe', 'inherit'] });
      createReadStream(input).pipe(child.stdin);
      child.stdout.pipe(createWriteStream(out));
      child.on('error', rej);
      child.on('close', (code) => (code === 0 ? res() : rej(new Error(`exit ${code}`))));
    });
    const file = join(dir, 'out-file.tar');
    await airpack(['reorder', input, '-o', file]);
    expect(sha(await readFile(out))).toBe(sha(await readFile(file)));
  });

  it('writes .tar.zst as zstd frames, metadata in the first frame, decompressing to the same tar', async () => {
    const out = join(dir, 'out.tar.zst');
    await airpack(['reorder', input, '-o', out, '--json']);
    const plain = join(dir, 'out-zst.tar');
    await runOk('zstd', ['-q', '-d', '-f', '--memory=32MB', out, '-o', plain]);
    await expectReordered(plain);
    const first = await readFirstFrame(out);
    expect(first.data.subarray(0, 13).toString()).toBe('manifest.json');
    expect(first.data.length).toBeLessThan(8 * 1024);
    expect((await readSeekTable(out))?.frames.length).toBeGreaterThanOrEqual(2);
  });

  it('gives the same .tar.zst bytes from a file (ranges read by the frame workers) and from stdin (streamed)', async () => {
    const fromFile = join(dir, 'from-file.tar.zst');
    const fromStdin = join(dir, 'from-stdin.tar.zst');
    await airpack(['reorder', input, '-o', fromFile, '--frame-size', '64K']);
    await new Promise<void>((res, rej) => {
      const child = spawn(process.execPath, [bin, 'reorder', '-', '-o', fromStdin, '--frame-size', '64K'], { cwd: dir, stdio: ['pipe', 'inherit', 'inherit'] });
      createReadStream(input).pipe(child.stdin);
      child.on('error', rej);
      child.on('close', (code) => (code === 0 ? res() : rej(new Error(`exit ${code}`))));
    });
    const frames = (await readSeekTable(fromFile))?.frames ?? [];
    expect(frames.length).toBeGreaterThan(2);
    expect(sha(await readFile(fromFile))).toBe(sha(await readFile(fromStdin)));
  });

  it('writes .tar.gz by name, and reads compressed input by magic bytes', async () => {
    const gz = join(dir, 'out.tar.gz');
    await airpack(['reorder', input, '-o', gz]);
    const plain = join(dir, 'out-gz.tar');
    await writeFile(plain, gunzipSync(await readFile(gz)));
    await expectReordered(plain);
    // A zstd input with a misleading name is still read.
    const disguised = join(dir, 'disguised.tar');
    await writeFile(disguised, await readFile(join(dir, 'out.tar.zst')));
    const again = join(dir, 'again.tar');
    await airpack(['reorder', disguised, '-o', again]);
    await expectReordered(again);
  });

  it('fails with exit code 4 and no output on a truncated tarball', async () => {
    const cut = join(dir, 'cut.tar');
    await writeFile(cut, (await readFile(input)).subarray(0, 150_000));
    const out = join(dir, 'cut-out.tar');
    const res = await promisify(execFile)(process.execPath, [bin, 'reorder', cut, '-o', out], { cwd: dir }).then(
      () => ({ code: 0 }),
      (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
    );
    expect(res.code).toBe(4);
    expect(existsSync(out)).toBe(false);
  });
  it('writes an OCI layout directory as a tar with index.json first, each file byte for byte, zstd too', async () => {
    const layout = join(dir, 'layout');
    await cp(join(root, '../shared/interop/stereoscope-multiplatform_oci_dir'), layout, { recursive: true });
    const out = join(dir, 'layout.tar');
    await airpack(['reorder', layout, '-o', out]);
    const { stdout } = await runOk('bsdtar', ['-tf', out]);
    expect(stdout.trim().split('\n').slice(0, 2)).toEqual(['index.json', 'oci-layout']);
    const files = (await readTar(out)).filter((e) => !e.name.endsWith('/'));
    expect(files.length).toBeGreaterThan(3);
    for (const e of files) expect(sha(e.data), e.name).toBe(sha(await readFile(join(layout, e.name))));
    // skopeo reads the tar as the directory it came from.
    const [fromDir, fromTar] = await Promise.all([runOk('skopeo', ['inspect', '--raw', `oci:${layout}`]), runOk('skopeo', ['inspect', '--raw', `oci-archive:${out}`])]);
    expect(fromTar.stdout).toBe(fromDir.stdout);
    // As zstd frames: the same tar inside.
    await airpack(['reorder', layout, '-o', `${out}.zst`]);
    await runOk('zstd', ['-d', '-q', '-f', `${out}.zst`, '-o', join(dir, 'layout-unzstd.tar')]);
    expect(sha(await readFile(join(dir, 'layout-unzstd.tar')))).toBe(sha(await readFile(out)));
  });

  it('refuses a layout directory with a symlink out of it (exit 4), and writes nothing', async () => {
    const layout = join(dir, 'layout-escape');
    await cp(join(root, '../shared/interop/imgutil-busybox'), layout, { recursive: true });
    await symlink('/etc/hostname', join(layout, 'blobs', 'sha256', 'stolen'));
    const out = join(dir, 'escape.tar');
    const res = await promisify(execFile)(process.execPath, [bin, 'reorder', layout, '-o', out], { cwd: dir }).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
    );
    expect(res.code).toBe(4);
    expect(res.stderr).toMatch(/stolen: a symlink out of the layout directory/);
    expect(existsSync(out)).toBe(false);
    // A link back up the tree is a loop, refused as malformed (not an I/O failure after ENAMETOOLONG).
    await rm(join(layout, 'blobs', 'sha256', 'stolen'));
    await symlink('..', join(layout, 'blobs', 'up'));
    const loop = await promisify(execFile)(process.execPath, [bin, 'reorder', layout, '-o', out], { cwd: dir }).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
    );
    expect(loop.code).toBe(4);
    expect(loop.stderr).toContain('a second way into');
    expect(existsSync(out)).toBe(false);
  });
});
