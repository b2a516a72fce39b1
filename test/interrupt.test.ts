/**
 * Ctrl-C and SIGTERM in the middle of work: the run exits at once with the
 * shell's code (130, 143), and leaves no temp file beside the output and no
 * scratch directory (blob store, decompressed archive copies) in TMPDIR;
 * a complete earlier artifact is left as it was.
 */
import { spawn } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import tarStream from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from './support/util.js';

const ROOT = join(__dirname, '..');
let dir: string;
let scratch: string;
let source: string;

/** A docker-save-shaped tar with one big layer of random bytes (slow to compress at a high level). */
async function bigArchive(path: string, bytes: number): Promise<void> {
  const layer = randomBytes(bytes);
  const diffId = `sha256:${createHash('sha256').update(layer).digest('hex')}`;
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] } }));
  const cfgName = `${createHash('sha256').update(config).digest('hex')}.json`;
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => chunks.push(c as Buffer));
  pack.entry({ name: 'manifest.json' }, JSON.stringify([{ Config: cfgName, RepoTags: ['example.com/big:1'], Layers: ['layer.tar'] }]));
  pack.entry({ name: cfgName }, config);
  pack.entry({ name: 'layer.tar' }, layer);
  pack.finalize();
  await new Promise<void>((r) => pack.on('end', () => r()));
  writeFileSync(path, Buffer.concat(chunks));
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airpack-interrupt-'));
  scratch = join(dir, 'tmp');
  await mkdir(scratch);
  source = join(dir, 'big.tar');
  await bigArchive(source, 48 * 1024 * 1024);
  writeFileSync(`${source}.gz`, gzipSync(readFileSync(source), { level: 1 }));
}, 60_000);
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Runs the CLI with TMPDIR in the test's scratch dir; sends `signal` once `ready()` holds. */
async function interrupt(args: string[], signal: NodeJS.Signals, ready: () => boolean): Promise<{ code: number | null; afterSignalMs: number; stderr: string }> {
  const child = spawn('node', [join(ROOT, 'bin/airpack.js'), ...args], { cwd: dir, env: { ...process.env, TMPDIR: scratch }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const started = Date.now();
  while (!ready()) {
    if (child.exitCode !== null) throw new Error(`exited before the signal: ${stderr}`);
    if (Date.now() - started > 30_000) throw new Error('never got ready');
    await sleep(20);
  }
  const sent = Date.now();
  child.kill(signal);
  const code = await exited;
  return { code, afterSignalMs: Date.now() - sent, stderr };
}

const leftovers = (): string[] => [...readdirSync(dir).filter((n) => n.endsWith('.tmp') || n.includes('.blobs-') || n.startsWith('.airpack-staging-')), ...readdirSync(scratch)];

describe('interrupted runs', () => {
  it('Ctrl-C during a bundle: exit 130 within a second, no temp file, no blob store left; an earlier artifact untouched', async () => {
    const earlier = join(dir, 'earlier.tar');
    writeFileSync(earlier, 'a complete artifact from before');
    const out = join(dir, 'out.tar.zst');
    // Ready once the bundle's temp file exists in its staging directory beside the output: compression is under way.
    const writing = (): boolean =>
      readdirSync(dir)
        .filter((n) => n.startsWith('.airpack-staging-'))
        .some((n) => readdirSync(join(dir, n)).some((f) => f.startsWith('.out.tar.zst.')));
    const res = await interrupt(['bundle', source, '-o', out, '--level', '19'], 'SIGINT', writing);
    expect(res.code).toBe(130);
    expect(res.afterSignalMs).toBeLessThan(1000);
    expect(res.stderr).toContain('stopped by SIGINT');
    expect(existsSync(out)).toBe(false);
    expect(leftovers()).toEqual([]);
    expect(readFileSync(earlier, 'utf8')).toBe('a complete artifact from before');
  });

  it('SIGTERM during a pull of a gzip archive: exit 143, the decompressed copy and the blob store removed', async () => {
    const out = join(dir, 'pulled.tar');
    const kept = join(dir, 'kept-cache');
    await mkdir(kept);
    writeFileSync(join(kept, 'marker'), 'kept');
    // Ready once the scratch copy of the gzip archive is being written.
    const res = await interrupt(['pull', `${source}.gz`, '--layers', 'uncompressed', '--cache-dir', join(dir, 'kept-cache'), '-o', out], 'SIGTERM', () => readdirSync(scratch).some((n) => n.startsWith('airpack-archives-')));
    expect(res.code).toBe(143);
    expect(res.afterSignalMs).toBeLessThan(1000);
    expect(existsSync(out)).toBe(false);
    expect(leftovers()).toEqual([]);
    // A cache the user asked to keep is kept.
    expect(readFileSync(join(kept, 'marker'), 'utf8')).toBe('kept');
  });
});
