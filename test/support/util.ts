/**
 * Small helpers shared by the test-support modules: temp dirs, free ports,
 * child processes and polling. Nothing here knows about registries or images.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh directory under os.tmpdir(); the caller removes it with removeDir. */
export async function makeTempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `airpack-${prefix}-`));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/**
 * A loopback port that was free a moment ago. Only for programs that need the
 * port in their config before they start (docker-registry); there is a small
 * race, so callers retry on "address already in use".
 */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new Error('freePort: no TCP address'));
        return;
      }
      srv.close(() => resolve(addr.port));
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a program to completion and collect its output; never rejects on a non-zero exit. */
export async function run(
  cmd: string,
  args: readonly string[],
  opts: { input?: string | Buffer; cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolve({
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      }),
    );
    // A child that exits without reading its stdin makes this write fail with EPIPE: that is not the test's concern.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** run(), but throws with the program's stderr when it exits non-zero. */
export async function runOk(cmd: string, args: readonly string[], opts?: Parameters<typeof run>[2]): Promise<RunResult> {
  const res = await run(cmd, args, opts);
  if (res.code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${res.code}: ${res.stderr.trim() || res.stdout.trim()}`);
  }
  return res;
}

/**
 * Keeps the last `limit` bytes a long-running child wrote to stderr, so a
 * start-up failure can be reported with the program's own words.
 */
export function captureTail(child: ChildProcess, limit = 16_384): () => string {
  let tail = '';
  const add = (d: Buffer): void => {
    tail = (tail + d.toString('utf8')).slice(-limit);
  };
  child.stderr?.on('data', add);
  child.stdout?.on('data', add);
  return () => tail;
}

/** Send SIGTERM, then SIGKILL if the child is still alive after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Poll `probe` until it returns true. Rejects early if `failed()` returns an
 * error (e.g. the child exited) and on timeout.
 */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  opts: { timeoutMs?: number; intervalMs?: number; failed?: () => Error | undefined } = {},
): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  for (;;) {
    const early = opts.failed?.();
    if (early) throw early;
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(opts.intervalMs ?? 50);
  }
}
