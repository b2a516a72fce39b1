/**
 * The staging of release sets (release/staging.ts), moving staged files over
 * an earlier release: at every step each path holds the earlier file or the
 * new one, never nothing; a move that fails, or Ctrl-C in the middle, puts
 * the earlier files back; one that cannot be put back is kept, and named.
 * File-system calls are wrapped to look at the paths around each of them and
 * to fail one on purpose.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { runInterruptCleanups } from '../src/io/cleanup.js';
import { StagingArea } from '../src/release/staging.js';
import { makeTempDir, removeDir } from './support/util.js';

type Call = { fn: string; args: unknown[] };
/** Runs around each wrapped call: `before` may throw (the call then fails), `after` sees the result. */
const hooks = vi.hoisted(() => ({
  before: undefined as ((call: Call) => void) | undefined,
  after: undefined as ((call: Call) => void) | undefined,
}));

function wrap<T extends (...args: never[]) => unknown>(fn: string, real: T): T {
  return ((...args: never[]) => {
    hooks.before?.({ fn, args });
    const result = real(...args);
    if (result instanceof Promise) {
      return result.then((v) => {
        hooks.after?.({ fn, args });
        return v;
      });
    }
    hooks.after?.({ fn, args });
    return result;
  }) as T;
}

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  return { ...real, rename: wrap('rename', real.rename), link: wrap('link', real.link) };
});
vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  return { ...real, renameSync: wrap('renameSync', real.renameSync) };
});

const NAMES = ['a.tar.zst', 'a.txt', 'sub/b.tar.zst', 'sha256sum-amd64.txt'];
let dir: string;
let out: string;
let n = 0;

beforeAll(async () => {
  dir = await makeTempDir('staging');
});
afterAll(() => removeDir(dir));
beforeEach(async () => {
  out = join(dir, `out-${n++}`);
  await mkdir(join(out, 'sub'), { recursive: true });
  // An earlier release: every name but the new sub/b.tar.zst.
  for (const name of NAMES.filter((x) => x !== 'sub/b.tar.zst')) await writeFile(join(out, name), `old ${name}`);
});
afterEach(() => {
  hooks.before = hooks.after = undefined;
});

async function stage(): Promise<{ area: StagingArea; files: string[] }> {
  const area = new StagingArea();
  const staging = await area.at(out);
  const files: string[] = [];
  for (const name of NAMES) {
    const file = staging.path(name);
    await mkdir(join(file, '..'), { recursive: true });
    await writeFile(file, `new ${name}`);
    files.push(file);
  }
  return { area, files };
}

/** What each path holds: 'old', 'new' or 'none'. */
function state(): Record<string, string> {
  return Object.fromEntries(
    NAMES.map((name) => {
      const p = join(out, name);
      return [name, existsSync(p) ? readFileSync(p, 'utf8').split(' ')[0]! : 'none'];
    }),
  );
}

/** Checks, before and after every call, that each path holds the earlier file or the new one. */
function watchPaths(): Array<Record<string, string>> {
  const seen: Array<Record<string, string>> = [];
  const look = (): void => {
    const s = state();
    seen.push(s);
    for (const name of NAMES) {
      // sub/b.tar.zst had no earlier file: nothing, then the new one.
      expect(s[name], `${name} during the commit`).toMatch(name === 'sub/b.tar.zst' ? /^(none|new)$/ : /^(old|new)$/);
    }
  };
  hooks.before = look;
  hooks.after = look;
  return seen;
}

const stagingDirs = (): string[] => readdirSync(out).filter((x) => x.startsWith('.airpack-staging-'));
const allOld = { 'a.tar.zst': 'old', 'a.txt': 'old', 'sub/b.tar.zst': 'none', 'sha256sum-amd64.txt': 'old' };

describe('committing staged files over an earlier release', () => {
  it('puts every file in place, each path holding the earlier or the new file at every step', async () => {
    const { area, files } = await stage();
    const seen = watchPaths();
    await area.commit(files);
    hooks.before = hooks.after = undefined;
    expect(state()).toEqual({ 'a.tar.zst': 'new', 'a.txt': 'new', 'sub/b.tar.zst': 'new', 'sha256sum-amd64.txt': 'new' });
    expect(seen.length).toBeGreaterThan(8);
    expect(stagingDirs()).toEqual([]);
  });

  it('takes every moved file back when a move fails, each path holding the earlier or the new file at every step', async () => {
    const { area, files } = await stage();
    const seen = watchPaths();
    const look = hooks.before!;
    hooks.before = (call) => {
      look(call);
      if (call.fn === 'rename' && String(call.args[1]).endsWith('sha256sum-amd64.txt')) throw Object.assign(new Error('EPERM: operation not permitted'), { code: 'EPERM' });
    };
    const err = await area.commit(files).catch((e: Error) => e);
    hooks.before = hooks.after = undefined;
    expect(String(err)).toContain('[the release set was not put in place; the 3 file(s) moved before it were taken back]');
    expect(state()).toEqual(allOld);
    // Some paths held the new file on the way.
    expect(seen.some((s) => s['a.tar.zst'] === 'new')).toBe(true);
    expect(stagingDirs()).toEqual([]);
  });

  it('keeps, and names, an earlier file it cannot put back, and does not say the files were taken back', async () => {
    const { area, files } = await stage();
    hooks.before = (call) => {
      if (call.fn === 'rename' && String(call.args[1]).endsWith('sha256sum-amd64.txt')) throw Object.assign(new Error('EPERM: operation not permitted'), { code: 'EPERM' });
      if (call.fn === 'renameSync' && String(call.args[1]).endsWith('a.txt')) throw Object.assign(new Error('EIO: i/o error'), { code: 'EIO' });
    };
    const err = await area.commit(files).catch((e: Error) => e);
    hooks.before = undefined;
    const [root] = stagingDirs();
    expect(root).toBeDefined();
    const kept = join(out, root!, '.airpack-replaced');
    expect(String(err)).not.toContain('were taken back]');
    expect(String(err)).toContain(`of the 3 file(s) moved before it, 2 were taken back; 1 could not be put back (${join(out, 'a.txt')}: `);
    expect(String(err)).toContain(`the earlier files are kept in ${kept}]`);
    // The earlier file is there, byte for byte; the others went back; nothing else of the staging is left.
    expect(await readFile(join(kept, 'a.txt'), 'utf8')).toBe('old a.txt');
    expect(state()).toEqual({ ...allOld, 'a.txt': 'new' });
    expect(await readdir(join(out, root!))).toEqual(['.airpack-replaced']);
  });

  // Ctrl-C or SIGTERM in the middle: the CLI runs the interrupt cleanups (synchronously, twice, then exits).
  for (const landed of [true, false]) {
    it(`puts the earlier files back when interrupted while a move is ${landed ? 'done but not yet seen' : 'still to happen'}`, async () => {
      const { area, files } = await stage();
      const seen = watchPaths();
      const look = hooks.before!;
      let interrupted = false;
      const interrupt = (call: Call): void => {
        if (!interrupted && call.fn === 'rename' && String(call.args[1]).endsWith('sub/b.tar.zst')) {
          interrupted = true;
          runInterruptCleanups();
          runInterruptCleanups();
          expect(state()).toEqual(allOld);
        }
      };
      hooks.before = (call) => {
        look(call);
        if (!landed) interrupt(call);
      };
      const after = hooks.after!;
      hooks.after = (call) => {
        after(call);
        if (landed) interrupt(call);
      };
      const err = await area.commit(files).catch((e: Error) => e);
      hooks.before = hooks.after = undefined;
      expect(interrupted).toBe(true);
      expect(err).toBeInstanceOf(Error);
      // The kept earlier files were not removed with the staging directory: they are back in place.
      expect(state()).toEqual(allOld);
      expect(seen.some((s) => s['a.tar.zst'] === 'new')).toBe(true);
      expect(stagingDirs()).toEqual([]);
    });
  }
});
