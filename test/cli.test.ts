/** The CLI contract: usage errors, exit codes, --json, nothing left behind on failure. */
import { existsSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StandardFixtures } from './support/fixtures.js';
import { run } from './support/util.js';
import { startWorld, type World } from './helpers/world.js';

const ROOT = join(__dirname, '..');
const airpack = (args: string[]) => run('node', ['bin/airpack.js', ...args], { cwd: ROOT, env: { ...process.env, DOCKER_CONFIG: '/nonexistent' } });

let world: World;
let fx: StandardFixtures;
let dir: string;

beforeAll(async () => {
  world = await startWorld('airpack-cli-');
  ({ fx, dir } = world);
}, 60_000);

afterAll(() => world?.stop());

describe('airpack CLI', () => {
  it('documents exit codes and examples in --help', async () => {
    const top = await airpack(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain('Exit codes');
    const pull = await airpack(['pull', '--help']);
    expect(pull.stdout).toContain('windows/amd64:ltsc2022');
    expect(pull.stdout).toContain('Examples:');
  });

  it('exits 2 naming a bad platform', async () => {
    const res = await airpack(['pull', fx.single.ref, '-p', 'windows/amd64:ltsc2099', '-o', join(dir, 'x.tar')]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('Windows version "ltsc2099"');
  });

  it('exits 2 naming the file and line of a bad image list entry', async () => {
    const list = join(dir, 'images.txt');
    await writeFile(list, `# rke2\n${fx.single.ref}\nNot A Ref\n`);
    const res = await airpack(['pull', '--images', list, '-o', join(dir, 'x.tar')]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(`${list} line 3`);
  });

  it('exits 3 naming the image for an unknown tag, leaving nothing behind', async () => {
    const out = join(dir, 'unknown.tar');
    const res = await airpack(['pull', `${fx.host}/library/single:nope`, '-o', out]);
    expect(res.code).toBe(3);
    expect(res.stderr).toContain(`${fx.host}/library/single:nope`);
    expect(existsSync(out)).toBe(false);
    expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('pulls an image list with --json and prints a parseable result and nothing else', async () => {
    const list = join(dir, 'ok.txt');
    await writeFile(list, `${fx.sharedA.ref}\n\n# comment\n${fx.sharedB.ref}\n`);
    const res = await airpack(['pull', '--images', list, '-o', join(dir, 'ok.tar'), '--json']);
    expect(res.code, res.stderr).toBe(0);
    expect(res.stderr).toBe('');
    const result = JSON.parse(res.stdout) as { images: Array<{ reference: string }>; bytes: number };
    expect(result.images.map((i) => i.reference)).toEqual([fx.sharedA.ref, fx.sharedB.ref]);
    expect(result.bytes).toBeGreaterThan(0);
  });

  // Issue 13, finding 4: `find` by the digest a digest-only bundle was made from.
  it('finds an image by the digest it was bundled by', async () => {
    const byDigest = `${fx.host}/${fx.multi.repo}@${fx.multi.index.digest}`;
    const out = join(dir, 'bydigest.tar.zst');
    const made = await airpack(['bundle', byDigest, '-p', 'linux/amd64', '-o', out, '--level', '1']);
    expect(made.code, made.stderr).toBe(0);
    const found = await airpack(['find', byDigest, out]);
    expect(found.code, found.stderr).toBe(0);
    expect(found.stdout).toContain(out);
  });

  // Issue 13, finding 7: output paths are checked before any work.
  it('refuses an output in a missing directory, or a directory, before any work (exit 2)', async () => {
    for (const o of [join(dir, 'nosuchdir', 'sub', 'x.tar'), dir]) {
      for (const cmd of ['pull', 'bundle']) {
        const started = Date.now();
        const res = await airpack([cmd, fx.single.ref, '-o', o]);
        expect({ cmd, o, code: res.code }).toEqual({ cmd, o, code: 2 });
        expect(res.stderr).toMatch(/does not exist|is a directory/);
        expect(Date.now() - started).toBeLessThan(3000);
      }
    }
    expect(existsSync(join(dir, 'nosuchdir'))).toBe(false);
  });

  // Issue 13, finding 9: a mistyped architecture is a usage error naming the near miss, not "registry refused".
  it('exits 2 on an unknown architecture, suggesting the near miss', async () => {
    const res = await airpack(['pull', fx.single.ref, '-p', 'linux/amd46', '-o', join(dir, 'typo.tar')]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('unknown architecture "amd46" (did you mean "amd64"?)');
  });

  // Issue 13, finding 1: a mistyped option used to be reported only after the whole bundle was written.
  it('refuses an unknown option before any work', async () => {
    const out = join(dir, 'typo-option.tar.zst');
    const started = Date.now();
    const res = await airpack(['bundle', fx.single.ref, '--cache-dri', join(dir, 'c'), '-o', out]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('Unknown arguments: cache-dri');
    expect(existsSync(out)).toBe(false);
    expect(Date.now() - started).toBeLessThan(3000);
    // --help and --version still answer once.
    const help = await airpack(['bundle', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout.split('airpack bundle').length).toBeGreaterThan(1);
  });
});
