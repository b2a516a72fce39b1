/**
 * Ctrl-C and SIGTERM in the middle of work: the run exits at once with the
 * shell's code (130, 143), and leaves no temp file beside the output and no
 * scratch directory (blob store, decompressed archive copies) in TMPDIR;
 * a complete earlier artifact is left as it was.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultProxy, type Fault } from './support/fault-proxy.js';
import { bigArchive } from './helpers/big-archive.js';
import { startRegistry, type RegistryHandle } from './support/registry.js';
import { runOk, sleep } from './support/util.js';

const ROOT = join(__dirname, '..');
let dir: string;
let scratch: string;
let source: string;


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
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`${signal} during a bundle onto an existing output: exit ${code} within a second, no temp file, no blob store left; the earlier artifact untouched`, async () => {
      // The same command ran before and left a complete artifact: an interrupted rerun must not touch it.
      const out = join(dir, `out-${signal}.tar.zst`);
      writeFileSync(out, 'a complete artifact from before');
      // Ready once the bundle's temp file exists in its staging directory beside the output: compression is under way.
      const writing = (): boolean =>
        readdirSync(dir)
          .filter((n) => n.startsWith('.airpack-staging-'))
          .some((n) => readdirSync(join(dir, n)).some((f) => f.startsWith(`.out-${signal}.tar.zst.`)));
      const res = await interrupt(['bundle', source, '-o', out, '--level', '19'], signal, writing);
      expect(res.code).toBe(code);
      expect(res.afterSignalMs).toBeLessThan(1000);
      expect(res.stderr).toContain(`stopped by ${signal}`);
      expect(leftovers()).toEqual([]);
      expect(readFileSync(out, 'utf8')).toBe('a complete artifact from before');
    });
  }

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

describe('interrupted registry runs', () => {
  let registry: RegistryHandle;
  let layers: string[];
  const two = (): string => join(dir, 'two.tar');
  beforeAll(async () => {
    registry = await startRegistry();
    // Two 24 MiB layers, stored uncompressed: a blob digest is its diff_id.
    layers = await bigArchive(two(), 24 * 1024 * 1024, 2, 'example.com/two:1');
    // As they are: a blob digest is its diff_id, which the tests below name.
    await runOk('node', [join(ROOT, 'bin/airpack.js'), 'push', two(), '--registry', registry.host, '--layer-compression', 'none', '-q']);
  }, 120_000);
  afterAll(() => registry?.stop());

  /** A proxy in front of the registry that records each request and applies `fault` to it. */
  async function watched(fault: (method: string, url: string) => Fault) {
    const seen: string[] = [];
    const proxy = await startFaultProxy(registry.url, (req) => {
      seen.push(`${req.method} ${req.url}`);
      return fault(req.method ?? '', req.url ?? '');
    });
    return { proxy, seen };
  }

  it('Ctrl-C during a pull with --cache-dir: exit 130, nothing partial kept; the same command again fetches only the blob that was not finished', async () => {
    const [first, second] = layers.map((d) => d.slice(7));
    const cache = join(dir, 'registry-cache');
    const out = join(dir, 'from-registry.tar');
    // The second layer is held back, so the signal lands after the first is in the cache and before the second is.
    const slow = await watched((method, url) => (method === 'GET' && url.includes(second!) ? { delayMs: 5000 } : 'pass'));
    const args = ['pull', `${slow.proxy.host}/two:1`, '--cache-dir', cache, '--concurrency', '1', '-o', out];
    try {
      const res = await interrupt(args, 'SIGINT', () => existsSync(join(cache, 'sha256', first!)));
      expect(res.code).toBe(130);
      expect(res.afterSignalMs).toBeLessThan(1000);
    } finally {
      await slow.proxy.stop();
    }
    expect(existsSync(out)).toBe(false);
    expect(leftovers()).toEqual([]);
    // The cache holds the finished blob, whole, and no partial one.
    expect(readdirSync(join(cache, 'sha256')).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    expect(statSync(join(cache, 'sha256', first!)).size).toBe(24 * 1024 * 1024);

    const again = await watched(() => 'pass');
    try {
      await runOk('node', [join(ROOT, 'bin/airpack.js'), ...args.slice(0, 1), `${again.proxy.host}/two:1`, ...args.slice(2)], { env: { ...process.env, TMPDIR: scratch } });
      expect(leftovers()).toEqual([]);
    } finally {
      await again.proxy.stop();
    }
    expect(existsSync(out)).toBe(true);
    const blobGets = again.seen.filter((r) => r.startsWith('GET') && r.includes('/blobs/'));
    expect(blobGets.some((r) => r.includes(first!)), `the finished blob was fetched again: ${blobGets.join(', ')}`).toBe(false);
    expect(blobGets.some((r) => r.includes(second!))).toBe(true);
    // And the archive is whole: skopeo reads both layers back from it.
    const inspected = JSON.parse((await runOk('skopeo', ['inspect', `docker-archive:${out}`])).stdout) as { Layers: string[] };
    expect(inspected.Layers).toEqual(layers);
    // A bundle with the same cache fetches no blob at all.
    const third = await watched(() => 'pass');
    try {
      await runOk('node', [join(ROOT, 'bin/airpack.js'), 'bundle', `${third.proxy.host}/two:1`, '--cache-dir', cache, '--level', '1', '-o', join(dir, 'from-cache.tar.zst')], { env: { ...process.env, TMPDIR: scratch } });
    } finally {
      await third.proxy.stop();
    }
    expect(third.seen.filter((r) => r.startsWith('GET') && r.includes('/blobs/'))).toEqual([]);
  }, 120_000);

  it('SIGTERM during a registry pull and a registry bundle without --cache-dir: the temp blob store and the temp output are removed', async () => {
    const second = layers[1]!.slice(7);
    // Held back, so the signal lands while the second layer is on its way.
    const slow = await watched((method, url) => (method === 'GET' && url.includes(second) ? { delayMs: 5000 } : 'pass'));
    try {
      for (const [command, out] of [['pull', join(dir, 'no-cache.tar')], ['bundle', join(dir, 'no-cache.tar.zst')]] as const) {
        // An earlier artifact at the output: the interrupted run must leave it as it was.
        writeFileSync(out, `earlier ${command}`);
        const res = await interrupt([command, `${slow.proxy.host}/two:1`, '--concurrency', '1', '-o', out], 'SIGTERM', () => slow.seen.some((r) => r.includes(second)) && readdirSync(scratch).some((n) => n.startsWith('airpack-blobs-')));
        expect({ command, code: res.code }).toEqual({ command, code: 143 });
        expect(res.afterSignalMs).toBeLessThan(1000);
        expect(readFileSync(out, 'utf8')).toBe(`earlier ${command}`);
        rmSync(out);
        // Nothing in TMPDIR (airpack-blobs-*) and nothing beside the output.
        expect(leftovers()).toEqual([]);
        slow.seen.length = 0;
      }
    } finally {
      await slow.proxy.stop();
    }
  }, 60_000);

  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const)
  it(`${signal} during a push, in the middle of a big blob: exit ${code} within a second, the scratch copies removed; the same push again completes, sends less than a whole push, and the image reads back whole`, async () => {
    const site = await startRegistry();
    try {
      const gz = join(dir, 'two.tar.gz');
      writeFileSync(gz, gzipSync(readFileSync(two()), { level: 1 }));
      // The first big blob (the first upload that PATCHes) goes through whole; every other upload is held
      // back, so the signal comes with one layer in the registry and the other in the middle of its upload.
      let first: string | undefined;
      let firstClosedAt = 0;
      let held = 0;
      const proxy = await startFaultProxy(site.url, (req) => {
        if (req.method !== 'PATCH' && req.method !== 'PUT') return 'pass';
        const session = new URL(req.url ?? '/', 'http://proxy').pathname;
        if (req.method === 'PATCH') first ??= session;
        if (session === first) {
          if (req.method === 'PUT') firstClosedAt = Date.now();
          return 'pass';
        }
        held++;
        return { delayMs: 3000 };
      });
      try {
        // A second after the first blob's closing PUT went through: the registry has it.
        const res = await interrupt(['push', gz, '--registry', proxy.host, '--progress', 'none'], signal, () => held > 0 && firstClosedAt > 0 && Date.now() - firstClosedAt > 1000);
        expect(res.code).toBe(code);
        expect(res.afterSignalMs).toBeLessThan(1000);
        expect(res.stderr).toContain(`stopped by ${signal}`);
      } finally {
        await proxy.stop();
      }
      expect(leftovers()).toEqual([]);
      const rerun = await runOk('node', [join(ROOT, 'bin/airpack.js'), 'push', gz, '--registry', site.host, '--json'], { env: { ...process.env, TMPDIR: scratch } });
      expect(rerun.code).toBe(0);
      expect(leftovers()).toEqual([]);
      // The same push into a registry that holds nothing: what a whole push sends.
      const fresh = await startRegistry();
      let whole: number;
      try {
        const full = await runOk('node', [join(ROOT, 'bin/airpack.js'), 'push', gz, '--registry', fresh.host, '--json'], { env: { ...process.env, TMPDIR: scratch } });
        whole = (JSON.parse(full.stdout) as { bytesUploaded: number }).bytesUploaded;
      } finally {
        await fresh.stop();
      }
      const again = (JSON.parse(rerun.stdout) as { bytesUploaded: number }).bytesUploaded;
      // Two layers of about the same size: the one already there is not sent again.
      expect(again).toBeGreaterThan(0);
      expect(again).toBeLessThan(whole * 0.75);
      // skopeo copy checks every blob against its digest.
      const copied = join(dir, `pushed-copy-${signal}`);
      await runOk('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${site.host}/two:1`, `dir:${copied}`]);
      // The plain layers went up gzip-compressed: each decompresses to its diff_id.
      const manifest = JSON.parse(readFileSync(join(copied, 'manifest.json'), 'utf8')) as { layers: Array<{ digest: string; mediaType: string }> };
      expect(manifest.layers.map((l) => l.mediaType)).toEqual(layers.map(() => 'application/vnd.docker.image.rootfs.diff.tar.gzip'));
      const plainDigests = manifest.layers.map((l) => `sha256:${createHash('sha256').update(gunzipSync(readFileSync(join(copied, l.digest.slice(7))))).digest('hex')}`);
      expect(plainDigests).toEqual(layers);
    } finally {
      await site.stop();
    }
  }, 120_000);
});
