/** The CLI contract: usage errors, exit codes, --json, nothing left behind on failure. */
import { existsSync, statSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { makeImage, makeLayer, pushImage, type StandardFixtures } from './support/fixtures.js';
import { run, runOk } from './support/util.js';
import { startWorld, type World } from './helpers/world.js';
import { airpackOnTerminal, terminalLines } from './helpers/terminal.js';
import { startFaultProxy } from './support/fault-proxy.js';
import { formatBytes } from '../src/cli/output.js';
import { encodeHeader, padding } from '../src/archive/tar-header.js';

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

  it('refuses credentials typed into an image reference (exit 2) and never prints them, in every command that takes one', async () => {
    const secret = 'hunter2-Zq';
    const b64 = Buffer.from(`bob:${secret}`).toString('base64');
    const list = join(dir, 'creds.txt');
    await writeFile(list, `docker-archive:${join(dir, 'a.tar')}:bob:${secret}@example.com/x:1\n`);
    const ref = `bob:${secret}@${fx.single.ref}`;
    for (const args of [
      ['pull', ref, '-o', join(dir, 'c.tar')],
      ['bundle', ref, '-o', join(dir, 'c.tar.zst')],
      ['pull', '--images', list, '-o', join(dir, 'c.tar')],
      ['manifest', 'create', 'example.com/x:list', ref],
      ['pull', ref, '-o', join(dir, 'c.tar'), '--json'],
    ]) {
      const res = await airpack(args);
      expect({ args: args.slice(0, 2), code: res.code }).toEqual({ args: args.slice(0, 2), code: 2 });
      expect(res.stderr + res.stdout).toContain('credentials');
      expect(res.stderr + res.stdout).not.toContain(secret);
      expect(res.stderr + res.stdout).not.toContain(b64);
    }
  });

  it('says a directory given as --images or --release is a directory, expected a file (exit 2); a directory as an image is read as one', async () => {
    for (const args of [
      ['pull', '--images', dir, '-o', join(dir, 'x.tar')],
      ['bundle', '--release', dir],
    ]) {
      const res = await airpack(args);
      expect({ args: args.slice(0, 2), code: res.code }).toEqual({ args: args.slice(0, 2), code: 2 });
      expect(res.stderr).toContain(`${dir}: cannot read it: is a directory, expected a file`);
    }
    // A directory named as an image (no path, no transport) is that directory, not docker.io/library/<name>:
    // one that is no OCI layout says so (exit 4), with no attempt to reach a registry.
    await mkdir(join(dir, 'not-a-layout'), { recursive: true });
    const res = await run('node', [join(ROOT, 'bin/airpack.js'), 'pull', 'not-a-layout', '-o', join(dir, 'nl.tar')], { cwd: dir, env: { ...process.env, DOCKER_CONFIG: '/nonexistent' } });
    expect(res.code).toBe(4);
    expect(res.stderr).toContain('not-a-layout: expected an image archive or OCI layout');
    expect(res.stderr).not.toContain('docker.io');
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

  // Issue 13, finding 4: a bundle by tag stores rewritten manifests (uncompressed layers) under a new
  // index: the digests the registry served were nowhere in it, so find by them said "not found".
  it('finds an image by the digests its source registry served: the index, a platform manifest, and the stored ones', async () => {
    const repo = `${fx.host}/${fx.multi.repo}`;
    const amd64 = fx.multi.byPlatform['linux/amd64']!.manifest.digest;
    const one = join(dir, 'bytag-one.tar.zst');
    const two = join(dir, 'bytag-two.tar.zst');
    const made = await airpack(['bundle', fx.multi.ref, '-p', 'linux/amd64', '-o', one, '--level', '1', '--json']);
    expect(made.code, made.stderr).toBe(0);
    expect((await airpack(['bundle', fx.multi.ref, '-p', 'linux/amd64', '-p', 'linux/arm64', '-o', two, '--level', '1'])).code).toBe(0);
    const stored = (JSON.parse(made.stdout) as { artifacts: Array<{ images: Array<{ digest: string; sourceDigest: string }> }> }).artifacts[0]!.images[0]!;
    // The layers were decompressed: the stored manifest is not the registry's.
    expect(stored.digest).not.toBe(amd64);
    for (const digest of [fx.multi.index.digest, amd64]) {
      const found = await airpack(['find', `${repo}@${digest}`, one, two, '--json']);
      expect(found.code, `${digest}: ${found.stderr}`).toBe(0);
      const matches = (JSON.parse(found.stdout) as { matches: Array<{ path: string; platforms: string[] }> }).matches;
      expect(matches.map((m) => [m.path, m.platforms])).toEqual([
        [one, ['linux/amd64']],
        [two, ['linux/amd64', 'linux/arm64']],
      ]);
    }
    expect((await airpack(['find', `${repo}@${stored.digest}`, one])).code).toBe(0);
    // Another image's digest still matches nothing (exit 1).
    const other = await airpack(['find', `${repo}@${fx.multi.byPlatform['linux/arm/v7']!.manifest.digest}`, one, two]);
    expect(other.code).toBe(1);
    expect(other.stderr).toContain('not found in 2 file(s)');
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

  it('reorder and extract check their output, --cache-dir must be a directory, a gzip level is gzip\'s: exit 2 before any work, naming it', async () => {
    const archive = join(dir, 'for-outputs.tar');
    expect((await airpack(['pull', fx.single.ref, '-o', archive])).code).toBe(0);
    const cases: Array<[string[], RegExp]> = [
      [['reorder', archive, '-o', join(dir, 'nosuchdir', 'x.tar')], /-o .*nosuchdir\/x\.tar: directory .* does not exist/],
      [['reorder', archive, '-o', dir, '--compression', 'none'], /-o .*: is a directory/],
      [['reorder', archive, '-o', join(dir, 'ro.tar'), '--compression', 'zstd'], /ro\.tar: the name says a plain tar, --compression says zstd/],
      [['reorder', archive, '-o', join(dir, 'r.tar.gz'), '--level', '16'], /--level 16: not a gzip level for .*r\.tar\.gz \[expected 1 to 9/],
      [['extract', archive, fx.single.ref, '-o', join(dir, 'nosuchdir', 'x.tar')], /-o .*nosuchdir\/x\.tar: directory .* does not exist/],
      [['pull', fx.single.ref, '--cache-dir', archive, '-o', join(dir, 'c.tar')], /--cache-dir .*for-outputs\.tar: is a file \[expected a directory for verified blobs\]/],
    ];
    for (const [args, message] of cases) {
      const res = await airpack(args);
      expect({ args, code: res.code }).toEqual({ args, code: 2 });
      expect(res.stderr).toMatch(message);
      expect(res.stderr).not.toContain(`${archive}: no such`);
    }
    expect(existsSync(join(dir, 'nosuchdir'))).toBe(false);
    expect(existsSync(join(dir, 'r.tar.gz'))).toBe(false);
    expect(existsSync(join(dir, 'ro.tar'))).toBe(false);
  });

  // Root reads every file: the unreadable case runs as root without the capabilities that override file
  // permissions (setpriv drops them from the bounding set), on files of mode 000 and a directory of 555.
  it('an unreadable input is exit 5 (permission denied) in every command, an unreadable option file and an unwritable output directory exit 2', async () => {
    const area = join(dir, 'unreadable');
    await mkdir(join(area, 'out'), { recursive: true });
    await mkdir(join(area, 'locked'), { recursive: true });
    const secret = join(area, 'root-only.tar');
    expect((await airpack(['pull', fx.single.ref, '-o', secret])).code).toBe(0);
    await writeFile(join(area, 'list.txt'), `${fx.single.ref}\n`);
    for (const f of [secret, join(area, 'list.txt')]) await chmod(f, 0o000);
    await chmod(join(area, 'locked'), 0o555);
    const withoutFileOverride = (args: string[]) =>
      run('setpriv', ['--bounding-set', '-dac_override,-dac_read_search', 'node', join(ROOT, 'bin/airpack.js'), ...args], { cwd: area, env: { ...process.env, DOCKER_CONFIG: '/nonexistent', TMPDIR: join(area, 'out') } });
    const out = (name: string) => join(area, 'out', name);
    const inputs: string[][] = [
      ['ls', secret],
      ['verify', secret],
      ['find', fx.single.ref, secret],
      ['extract', secret, fx.single.ref, '-o', out('e.tar')],
      ['reorder', secret, '-o', out('r.tar')],
      ['pull', `docker-archive:${secret}`, '-o', out('p.tar')],
      ['bundle', secret, '-o', out('b.tar.zst')],
      ['push', secret, '--registry', '127.0.0.1:1'],
    ];
    for (const args of inputs) {
      const res = await withoutFileOverride(args);
      expect({ args, code: res.code }).toEqual({ args, code: 5 });
      expect(res.stderr).toContain(`${secret}: permission denied`);
    }
    const options: Array<[string[], RegExp]> = [
      [['pull', '--images', join(area, 'list.txt'), '-o', out('l.tar')], /--images .*list\.txt: cannot read it: permission denied/],
      [['pull', fx.single.ref, '--ca-file', secret, '-o', out('c.tar')], /--ca-file .*root-only\.tar: cannot read it: permission denied/],
      [['pull', fx.single.ref, '-o', join(area, 'locked', 'x.tar')], /-o .*locked\/x\.tar: cannot write in .*locked: permission denied/],
      [['bundle', fx.single.ref, '-o', join(area, 'locked', 'x.tar.zst')], /cannot write in .*locked: permission denied/],
    ];
    for (const [args, message] of options) {
      const res = await withoutFileOverride(args);
      expect({ args, code: res.code }).toEqual({ args, code: 2 });
      expect(res.stderr).toMatch(message);
    }
    // Nothing was written anywhere, and no scratch was left in TMPDIR.
    expect(await readdir(join(area, 'out'))).toEqual([]);
    expect(await readdir(join(area, 'locked'))).toEqual([]);
    expect((await readdir(area)).sort()).toEqual(['list.txt', 'locked', 'out', 'root-only.tar']);
    // Left so that the world's temp dir can be removed.
    await chmod(join(area, 'locked'), 0o755);
  });

  // Issue 13, finding 9: a mistyped architecture is a usage error naming the near miss, not "registry refused".
  it('exits 2 on an unknown architecture, suggesting the near miss', async () => {
    const res = await airpack(['pull', fx.single.ref, '-p', 'linux/amd46', '-o', join(dir, 'typo.tar')]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('unknown architecture "amd46" (did you mean "amd64"?)');
  });

  // Issue 13, finding 5: the velero example with a Linux-only image left _output/velero-...-linux-amd64.tar
  // without its list and checksum when the Windows artifact failed.
  it('writes a release set all or nothing: a failed artifact leaves no other artifact, list or staging directory', async () => {
    const outDir = join(dir, 'velero-fail');
    const env = { BUILD_OS: 'linux windows', BUILD_ARCH: 'amd64', BUILD_WINDOWS_VERSION: 'ltsc2022', VERSION: 'v1.14.0' };
    const res = await run('node', ['bin/airpack.js', 'bundle', fx.single.ref, '--output-dir', outDir, '--preset', 'velero'], { cwd: ROOT, env: { ...process.env, DOCKER_CONFIG: '/nonexistent', ...env } });
    expect(res.code).toBe(3);
    expect(res.stderr).toContain('windows/amd64');
    expect(existsSync(outDir) ? await readdir(outDir, { recursive: true }) : []).toEqual([]);
    // The same through a release description with two bundles: the first, good one is not left behind either.
    const desc = join(dir, 'fails.yaml');
    await writeFile(desc, `outputDir: release-fail\npreset: rke2\nbundles:\n  - images: [${fx.single.ref}]\n    platforms: [linux/amd64]\n  - images: [${fx.single.ref}]\n    platforms: [linux/arm64]\n`);
    const rel = await airpack(['bundle', '--release', desc]);
    expect(rel.code).toBe(3);
    const relDir = join(dir, 'release-fail');
    expect(existsSync(relDir) ? await readdir(relDir, { recursive: true }) : []).toEqual([]);
    // A failure met only while the set is moved into place (a checksum file that may not be replaced: immutable,
    // which root cannot override either). The checksum files were written in place after the artifacts were
    // moved: the new artifacts stayed beside the earlier release's checksums. Now nothing changes.
    const replaceDir = join(dir, 'release-replace');
    const replace = join(dir, 'replace.yaml');
    const release = (images: string[]) => writeFile(replace, `outputDir: release-replace\npreset: rke2\nbundles:\n  - images: [${images.join(', ')}]\n    platforms: [linux/amd64]\n`);
    const contents = async (): Promise<Record<string, string>> => {
      const names = (await readdir(replaceDir, { recursive: true })).sort();
      return Object.fromEntries(await Promise.all(names.map(async (n) => [n, createHash('sha256').update(await readFile(join(replaceDir, n))).digest('hex')] as const)));
    };
    await release([fx.single.ref]);
    expect((await airpack(['bundle', '--release', replace])).code).toBe(0);
    const before = await contents();
    expect(Object.keys(before)).toEqual(['rke2-images.linux-amd64.tar.zst', 'rke2-images.linux-amd64.txt', 'sha256sum-amd64.txt']);
    await release([fx.single.ref, fx.sharedA.ref]);
    const sums = join(replaceDir, 'sha256sum-amd64.txt');
    await runOk('chattr', ['+i', sums]);
    try {
      const res = await airpack(['bundle', '--release', replace]);
      expect(res.code, res.stderr).toBe(5);
      expect(res.stderr.trim()).toBe(`airpack: ${sums}: permission denied [the release set was not put in place; the 2 file(s) moved before it were taken back]`);
    } finally {
      await runOk('chattr', ['-i', sums]);
    }
    expect(await contents()).toEqual(before);
  });

  // Two bundles of one --release giving the same artifact name: the second overwrote the first's staged file,
  // the checksum file listed the name twice and the commit failed (ENOENT) after all the downloads.
  it('refuses a release whose bundles write the same artifact before any work, naming both bundles and the name', async () => {
    const desc = join(dir, 'clash.yaml');
    // An unreachable registry: any work would fail with exit 3, not 2.
    await writeFile(desc, `outputDir: release-clash\npreset: rke2\nbundles:\n  - set: canal\n    images: [127.0.0.1:1/a:v1]\n    platforms: [linux/amd64]\n  - images: [127.0.0.1:1/a:v1]\n    platforms: [linux/arm64]\n  - images: [127.0.0.1:1/b:v1]\n    platforms: [linux/arm64]\n`);
    const started = Date.now();
    const res = await airpack(['bundle', '--release', desc]);
    expect(res.code, res.stderr).toBe(2);
    expect(res.stderr.trim()).toBe(`airpack: release description ${desc}: bundles 2 and 3 both write ${relative(ROOT, join(dir, 'release-clash', 'rke2-images.linux-arm64.tar.zst'))}; give them different names (a {set}, another --name pattern or outputDir)`);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(existsSync(join(dir, 'release-clash'))).toBe(false);
  });

  it('refuses a release set whose artifact name is taken by a directory before any work, and leaves no staging behind', async () => {
    const outDir = join(dir, 'velero-blocked');
    await mkdir(join(outDir, '_output', 'velero-v1-linux-amd64.tar'), { recursive: true });
    const started = Date.now();
    const res = await airpack(['bundle', fx.single.ref, '--output-dir', outDir, '--preset', 'velero', '--artifact-version', 'v1', '-p', 'linux/amd64']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('_output/velero-v1-linux-amd64.tar is a directory');
    expect(Date.now() - started).toBeLessThan(3000);
    expect((await readdir(outDir)).filter((n) => n.startsWith('.airpack-staging-'))).toEqual([]);
  });

  it('takes skipMissing and concurrency from a release description when the command line leaves them unsaid', async () => {
    const desc = join(dir, 'skip.yaml');
    await writeFile(desc, `outputDir: release-skip\npreset: rke2\nskipMissing: true\nconcurrency: 2\nbundles:\n  - images: [${fx.single.ref}, ${fx.multi.ref}]\n    platforms: [linux/arm64]\n`);
    const res = await airpack(['bundle', '--release', desc, '--json']);
    expect(res.code, res.stderr).toBe(0);
    const result = JSON.parse(res.stdout) as { bundles: Array<{ skipped: Array<{ reference: string }>; artifacts: Array<{ name: string; path: string }> }> };
    expect(result.bundles[0]!.skipped.map((s) => s.reference)).toEqual([fx.single.ref]);
    expect(result.bundles[0]!.artifacts.map((a) => a.name)).toEqual(['rke2-images.linux-arm64.tar.zst']);
    expect(existsSync(result.bundles[0]!.artifacts[0]!.path)).toBe(true);
    expect((await readdir(join(dir, 'release-skip'))).sort()).toEqual(['rke2-images.linux-arm64.tar.zst', 'rke2-images.linux-arm64.txt', 'sha256sum-arm64.txt']);
    // Said on the command line, it wins.
    const strict = await airpack(['bundle', '--release', desc, '--skip-missing=false']);
    expect(strict.code).toBe(3);
  });

  it('refuses --concurrency 0 (or not a whole number) before any work, naming the option', async () => {
    for (const value of ['0', '1.5', 'x']) {
      const res = await airpack(['pull', fx.single.ref, '-o', join(dir, 'conc.tar'), '--concurrency', value]);
      expect(res.code).toBe(2);
      expect(res.stderr).toMatch(/--concurrency .*expected a whole number from 1 to 1024/);
    }
    expect(existsSync(join(dir, 'conc.tar'))).toBe(false);
  });

  // Issue 13, finding 8: a corrupt file among others was skipped without a word; a bundle cut after its
  // first frame was reported as holding its images; ls of random bytes printed them raw.
  it('find names the files it cannot read, and a bundle cut short holds nothing', async () => {
    const area = join(dir, 'find-broken');
    await mkdir(area);
    const whole = join(area, 'whole.tar.zst');
    expect((await airpack(['bundle', fx.single.ref, '-o', whole, '--frame-size', '64KiB', '--level', '3'])).code).toBe(0);
    const bytes = await readFile(whole);
    // Cut inside the data frame: the metadata frame, which names the image, is whole.
    await writeFile(join(area, 'cut.tar.zst'), bytes.subarray(0, Math.floor(bytes.length * 0.7)));
    await writeFile(join(area, 'fake.tar'), 'not a tar at all\n');
    const cut = await airpack(['find', fx.single.ref, join(area, 'cut.tar.zst'), join(area, 'fake.tar')]);
    expect(cut.code).toBe(4);
    expect(cut.stdout).toBe('');
    expect(cut.stderr).toContain(`skipped ${join(area, 'cut.tar.zst')}: file ends at`);
    expect(cut.stderr).toContain(`skipped ${join(area, 'fake.tar')}:`);
    expect(cut.stderr).toContain('2 could not be read');
    expect((await airpack(['ls', join(area, 'cut.tar.zst')])).code).toBe(4);
    // Found elsewhere: exit 0, the unreadable file still named.
    const found = await airpack(['find', fx.single.ref, area]);
    expect(found.code).toBe(0);
    expect(found.stdout).toContain(whole);
    expect(found.stderr).toContain('skipped');
    // Not there and nothing unreadable: plain not found.
    expect((await airpack(['find', `${fx.host}/library/nope:1`, whole])).code).toBe(1);
    const random = join(area, 'random.bin');
    await writeFile(random, Buffer.from(Array.from({ length: 2048 }, (_, i) => (i * 151 + 7) % 256)));
    const ls = await airpack(['ls', random]);
    expect(ls.code).toBe(4);
    expect(ls.stderr).toMatch(/^[\x20-\x7e\n]*$/);
    expect(ls.stderr).toContain('not a valid tar header');
  });

  // Issue 12: a plain find/ls/verify/extract/pull runs from the bundled entry (src/cli/fast-entry.ts) when a build made it.
  it('find, ls, verify, extract and pull answer the same from the bundled entry as through the modules', async () => {
    // Built into a directory of its own (inside the checkout, where the zstd binding resolves): other
    // test files running meanwhile keep whatever dist/cli/fast they had.
    const own = join(ROOT, 'tmp', `fast-bundle-${process.pid}`);
    const built = await run('node', ['scripts/build-fast-cli.mjs', own], { cwd: ROOT });
    expect(built.code, built.stderr).toBe(0);
    const area = join(dir, 'find-bundled');
    await mkdir(area);
    const bundle = join(area, 'b.tar.zst');
    expect((await airpack(['bundle', fx.single.ref, fx.multi.ref, '-p', 'linux/amd64', '-o', bundle, '--level', '1'])).code).toBe(0);
    await writeFile(join(area, 'fake.tar'), 'not a tar at all\n');
    const env = { ...process.env, DOCKER_CONFIG: '/nonexistent' };
    const bundled = (args: string[]) =>
      run('node', ['--input-type=module', '-e', `const m = await import(${JSON.stringify(join(own, 'fast.js'))}); process.exitCode = await m.fastMain(process.argv.slice(1));`, ...args], { cwd: ROOT, env });
    const modules = (args: string[]) => run('node', ['bin/airpack.js', ...args], { cwd: ROOT, env: { ...env, AIRPACK_NO_BUNDLE: '1' } });
    const lines = [
      ['find', fx.multi.ref, area],
      ['find', fx.single.ref, bundle, '--json'],
      ['find', `${fx.host}/library/nope:1`, bundle],
      ['find', fx.single.ref, join(area, 'fake.tar'), '-q'],
      ['ls', bundle],
      ['ls', '--json', bundle],
      ['ls', join(area, 'fake.tar')],
    ];
    for (const args of lines) {
      const [a, b, c] = await Promise.all([bundled(args), modules(args), airpack(args)]);
      expect(a, args.join(' ')).toEqual(b);
      expect(c, args.join(' ')).toEqual(b);
    }
    expect((await bundled(['find', fx.multi.ref, area])).stdout).toContain(bundle);
    // verify and extract load their parts of the bundle on demand: the same findings, the same bytes.
    const verdict = (out: string): unknown => (JSON.parse(out) as Array<Record<string, unknown>>).map(({ seconds: _s, ...rest }) => rest);
    const [va, vb] = await Promise.all([bundled(['verify', '--json', bundle, join(area, 'fake.tar')]), modules(['verify', '--json', bundle, join(area, 'fake.tar')])]);
    expect([va.code, vb.code]).toEqual([4, 4]);
    expect(verdict(va.stdout)).toEqual(verdict(vb.stdout));
    const [xa, xb] = [join(area, 'x-bundled.tar.zst'), join(area, 'x-modules.tar.zst')];
    const [ea, eb] = await Promise.all([bundled(['extract', bundle, fx.multi.ref, '-o', xa, '-p', 'linux/amd64']), modules(['extract', bundle, fx.multi.ref, '-o', xb, '-p', 'linux/amd64'])]);
    expect([ea.code, eb.code], ea.stderr + eb.stderr).toEqual([0, 0]);
    expect((await readFile(xa)).equals(await readFile(xb))).toBe(true);
    // pull too; `--concurrency 2` is no plain line, so yargs parses that one: the same archive three ways.
    const pulled = [join(area, 'p-bundled.tar'), join(area, 'p-modules.tar'), join(area, 'p-yargs.tar')];
    const pullArgs = (out: string) => ['pull', fx.multi.ref, fx.single.ref, '-p', 'linux/amd64', '--platform=linux/arm64', '--layers', 'uncompressed', '--skip-missing', '-o', out];
    const pulls = await Promise.all([bundled(pullArgs(pulled[0]!)), modules(pullArgs(pulled[1]!)), modules([...pullArgs(pulled[2]!), '--concurrency', '2'])]);
    expect(pulls.map((p) => p.code), pulls.map((p) => p.stderr).join('')).toEqual([0, 0, 0]);
    expect(pulls.map((p, i) => p.stdout.replace(pulled[i]!, 'OUT'))).toEqual(Array(3).fill(pulls[2]!.stdout.replace(pulled[2]!, 'OUT')));
    expect(pulls[2]!.stdout).toContain('linux/arm64');
    const bytes = await Promise.all(pulled.map((f) => readFile(f)));
    expect(bytes[0]!.equals(bytes[2]!) && bytes[1]!.equals(bytes[2]!)).toBe(true);
    // Not a plain find/ls: the bundle does nothing and says so.
    expect((await bundled(['find', '--help'])).code).toBe(0);
    expect((await bundled(['find', '--help'])).stdout).toBe('');
    await rm(own, { recursive: true, force: true });
  });

  // Issue 13, finding 9: foot-guns.
  it('refuses binary output to a terminal and waiting on a terminal for stdin, and names the near miss of a command', async () => {
    const tar = join(ROOT, '..', 'shared', 'interop', 'ggcr-tarball-test_image_1.tar');
    // Under script(1) stdin and stdout are a pseudo-terminal, as at a prompt.
    const toTerminal = await airpackOnTerminal(`reorder '${tar}'`);
    expect(toTerminal.code).toBe(2);
    expect(toTerminal.stdout).toContain('stdout is a terminal: give -o FILE');
    expect(toTerminal.stdout).not.toContain('ustar');
    const fromTerminal = await airpackOnTerminal(`reorder -o '${join(dir, 'never.tar')}'`);
    expect(fromTerminal.code).toBe(2);
    expect(fromTerminal.stdout).toContain('stdin is a terminal');
    // Piped, the tar goes to stdout as before.
    const piped = await airpack(['reorder', tar]);
    expect(piped.code).toBe(0);
    expect(piped.stdout.length).toBeGreaterThan(10_000);

    const pul = await airpack(['pul', fx.single.ref, '-o', join(dir, 'pul.tar')]);
    expect(pul.code).toBe(2);
    expect(pul.stderr.trim().split('\n')).toEqual(['airpack: unknown command "pul" (did you mean "pull"?) [airpack --help]']);
    const option = await airpack(['bundle', fx.single.ref, '--cache-dri', join(dir, 'c'), '-o', join(dir, 'near.tar.zst')]);
    expect(option.stderr).toContain('unknown option --cache-dri (did you mean --cache-dir?)');
    // An output directory that is a file, and a layer mode that does not exist: exit 2 before any work.
    const fileDir = join(dir, 'not-a-dir.tar.zst');
    await writeFile(fileDir, 'x');
    const asDir = await airpack(['bundle', fx.single.ref, '--output-dir', fileDir, '--preset', 'rke2']);
    expect(asDir.code).toBe(2);
    expect(asDir.stderr).toContain('is a file [expected a directory');
    const layers = await airpack(['pull', fx.single.ref, '-o', join(dir, 'layers.tar'), '--layers', 'compressed']);
    expect(layers.code).toBe(2);
    expect(layers.stderr).toContain('--layers "compressed": expected one of original, uncompressed');
    // A bad value: one line naming the option and what it takes.
    const preset = await airpack(['bundle', fx.single.ref, '--output-dir', join(dir, 'preset'), '--preset', 'rke3']);
    expect(preset.code).toBe(2);
    expect(preset.stderr.trim().split('\n')).toEqual(['airpack: --preset "rke3": expected one of rke2, velero (did you mean "rke2"?) [airpack bundle --help]']);

    // --version is airpack's everywhere; the artifact version is --artifact-version.
    const version = (await airpack(['--version'])).stdout.trim();
    expect(version).toMatch(/^\d+\.\d+\.\d+/);
    expect((await airpack(['bundle', '--version'])).stdout.trim()).toBe(version);
    expect((await airpack(['version'])).stdout.trim()).toBe(version);

    const empty = join(dir, 'empty-list.txt');
    await writeFile(empty, '# generated, but nothing matched\n\n');
    const none = await airpack(['bundle', '--images', empty, '-o', join(dir, 'empty.tar.zst')]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain(`--images ${empty}: lists no images`);
  });

  // Issue 13, finding 10: wording.
  it('says what it wrote in the words ls uses, and refuses an output name that promises another format', async () => {
    const out = join(dir, 'count.tar.zst');
    const bundled = await airpack(['bundle', fx.multi.ref, fx.single.ref, '-p', 'linux/amd64', '-p', 'linux/arm64', '--skip-missing', '-o', out, '--level', '3']);
    expect(bundled.code, bundled.stderr).toBe(0);
    expect(bundled.stdout).toContain('2 image(s) (3 platform manifests)');
    expect((await airpack(['ls', out])).stdout).toContain(': 2 image(s), zstd (seekable)');
    const plain = join(dir, 'count.tar');
    await airpack(['pull', fx.single.ref, '-o', plain]);
    expect((await airpack(['ls', plain])).stdout).toContain(': 1 image(s), uncompressed tar');
    // A layout directory is not a file: no format word, no size of its own.
    expect((await airpack(['ls', join(ROOT, '..', 'shared', 'interop', 'ggcr-layout-test_index')])).stdout).toContain(': 4 image(s), OCI layout directory\n');
    for (const name of ['g.zip', 'x.tar.xz', 'noext']) {
      const res = await airpack(['pull', fx.single.ref, '-o', join(dir, name)]);
      expect(res.code).toBe(2);
      expect(res.stderr).toContain('the name does not say how to write it');
      expect(existsSync(join(dir, name))).toBe(false);
    }
    const help = await airpack(['pull', '--help']);
    expect(help.stdout.replace(/\s+/g, ' ')).toContain('127.0.0.0/8 always are');
    expect((await airpack(['ls', '--help'])).stdout.replace(/\s+/g, ' ')).toContain('.tar.bz2, .tar.lz4');
  });

  // Issue 13, finding 3: the line froze during compression, with a stale speed and no percentage or ETA.
  it('shows live progress on a terminal: the line moves, with a percentage and an ETA, within 60 columns; nothing without one', async () => {
    // 32 MiB that zstd -19 takes a couple of seconds over, in one frame.
    const data = Buffer.alloc(32 << 20);
    for (let off = 0, i = 0; off < data.length; off += 32, i++) createHash('sha256').update(`progress:${i % 262144}`).digest().copy(data, off);
    const image = makeImage({ os: 'linux', architecture: 'amd64', layers: [await makeLayer({ 'data.bin': data })], manifestMediaType: 'oci' });
    await pushImage(world.registry.url, 'library/big', image, 'progress');
    const out = join(dir, 'progress.tar.zst');
    const res = await airpackOnTerminal(`bundle ${fx.host}/library/big:progress -o '${out}' --level 19 --frame-size 64MiB`, { cols: 60 });
    expect(res.code, res.stdout).toBe(0);
    const lines = terminalLines(res.stdout, 'bundle: ');
    const compressing = lines.filter((l) => l.startsWith('bundle: compressing'));
    expect(new Set(compressing).size, lines.join('\n')).toBeGreaterThan(2);
    expect(compressing.some((l) => /\d+%/.test(l) && /ETA \d+:\d\d/.test(l))).toBe(true);
    for (const l of lines) expect([...l].length, l).toBeLessThanOrEqual(60);
    // Without a terminal (a CI log): no progress at all; with --progress=plain, plain lines.
    const quiet = await airpack(['bundle', `${fx.host}/library/big:progress`, '-o', join(dir, 'progress2.tar.zst'), '--level', '1']);
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');
  }, 120_000);

  // Issue 13, finding 3: the end of a run said nothing of how long it took, and a slow registry showed
  // nothing at all until the first byte of a layer.
  it('ends with one truthful summary line where progress shows, nothing elsewhere; says it is resolving while manifests are slow', async () => {
    const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const secs = ' in \\d+\\.\\d s\\n$';
    const archive = join(dir, 'summary.tar');
    const pulled = await airpack(['pull', fx.multi.ref, '-p', 'linux/amd64', '-p', 'linux/arm64', '-o', archive, '--progress', 'plain']);
    expect(pulled.code, pulled.stderr).toBe(0);
    expect(pulled.stderr).toMatch(new RegExp(`^pull: wrote ${esc(archive)}: 1 image\\(s\\) \\(2 platform manifests\\), ${esc(formatBytes(statSync(archive).size))}${secs}`));
    const bundled = join(dir, 'summary.tar.zst');
    const made = await airpack(['bundle', archive, '-p', 'linux/amd64', '-o', bundled, '--level', '1', '--progress', 'plain']);
    expect(made.stderr).toMatch(new RegExp(`^bundle: wrote summary\\.tar\\.zst: 1 image\\(s\\), ${esc(formatBytes(statSync(bundled).size))}${secs}`));
    const verified = await airpack(['verify', archive, bundled, '--progress', 'plain']);
    expect(verified.stderr).toMatch(new RegExp(`^verify: verified 2 file\\(s\\): all ok, 2 image\\(s\\), [\\d.]+ [KM]B hashed${secs}`));
    const extracted = join(dir, 'summary-arm64.tar.gz');
    const ex = await airpack(['extract', archive, fx.multi.ref, '-p', 'linux/arm64', '-o', extracted, '--progress', 'plain']);
    expect(ex.stderr).toMatch(new RegExp(`^extract: wrote ${esc(extracted)}: ${esc(fx.multi.ref)} linux/arm64, 4 blobs, ${esc(formatBytes(statSync(extracted).size))}${secs}`));
    const pushed = await airpack(['push', bundled, '--registry', `${fx.host}/summary`, '--progress', 'plain']);
    expect(pushed.stderr).toMatch(new RegExp(`^push: pushed 1 image\\(s\\) to ${esc(fx.host)}/summary, [\\d.]+ [KM]?B uploaded${secs}`));
    // Not a terminal, no --progress plain: the result on stdout, nothing on stderr.
    const silent = await airpack(['verify', archive]);
    expect(silent.code).toBe(0);
    expect(silent.stderr).toBe('');
    // Manifests held 1.5 s each by a proxy: the live line says what it waits for, then the summary stays.
    const proxy = await startFaultProxy(world.registry.url, (req) => (req.url?.includes('/manifests/') ? { delayMs: 1500 } : 'pass'));
    try {
      const out = join(dir, 'slow-resolve.tar');
      const res = await airpackOnTerminal(`pull ${proxy.host}/${fx.multi.repo}:${fx.multi.tag} -o '${out}'`, { cols: 80 });
      expect(res.code, res.stdout).toBe(0);
      const lines = terminalLines(res.stdout);
      expect(lines.some((l) => /^pull: resolving .*0\/1 refs/.test(l)), lines.join('\n')).toBe(true);
      expect(lines.filter((l) => l.startsWith('pull: wrote '))).toHaveLength(1);
    } finally {
      await proxy.stop();
    }
  }, 60_000);

  // Issue 13, finding 3: verify and extract showed nothing on a terminal; a CI log got nothing until the end.
  it('shows verify and extract progress on a terminal (the line moves, with a percentage, within 60 columns); --progress plain prints lines into a log', async () => {
    const pty = (args: string) => airpackOnTerminal(args, { cols: 60 });
    const drawn = (out: string, verb: string): string[] => terminalLines(out, `${verb}: `);
    const moving = (lines: string[], phase: string): void => {
      const phaseLines = lines.filter((l) => l.startsWith(phase));
      expect(new Set(phaseLines).size, lines.join('\n')).toBeGreaterThan(1);
      expect(phaseLines.some((l) => /\d+%/.test(l)), lines.join('\n')).toBe(true);
      // The redrawn line fits; the closing summary is a log line, wrapped as any.
      for (const l of lines.filter((x) => !/ in \d+\.\d s$/.test(x))) expect([...l].length, l).toBeLessThanOrEqual(60);
      expect(lines.at(-1)).toMatch(/ in \d+\.\d s$/);
    };
    // verify hashes every byte: a docker-save tar whose 512 MiB layer is a hole (zeros) takes a while to hash, nothing to write.
    const zeros = join(dir, 'zeros.tar');
    await sparseImageTar(zeros, 512 << 20);
    const verified = await pty(`verify '${zeros}'`);
    expect(verified.code, verified.stdout).toBe(0);
    moving(drawn(verified.stdout, 'verify'), 'verify: verifying');
    // extract compresses at zstd's default level 16: 32 MiB of compressible data takes seconds.
    const data = Buffer.alloc(32 << 20);
    for (let off = 0, i = 0; off < data.length; off += 32, i++) createHash('sha256').update(`extract:${i % 262144}`).digest().copy(data, off);
    const image = makeImage({ os: 'linux', architecture: 'amd64', layers: [await makeLayer({ 'data.bin': data })], manifestMediaType: 'oci' });
    await pushImage(world.registry.url, 'library/big', image, 'extract');
    const source = join(dir, 'extract-source.tar');
    expect((await airpack(['pull', `${fx.host}/library/big:extract`, '-o', source])).code).toBe(0);
    const extracted = await pty(`extract '${source}' ${fx.host}/library/big:extract -o '${join(dir, 'extract-progress.tar.zst')}'`);
    expect(extracted.code, extracted.stdout).toBe(0);
    moving(drawn(extracted.stdout, 'extract'), 'extract: compressing');
    // A CI log (stderr a pipe) with --progress plain: a line every 10 s while the run waits on an 11 s manifest.
    let held = 0;
    const proxy = await startFaultProxy(world.registry.url, (req) => (req.url?.includes('/manifests/') && held++ === 0 ? { delayMs: 11_000 } : 'pass'));
    try {
      const res = await airpack(['pull', `${proxy.host}/${fx.single.repo}:${fx.single.tag!}`, '-o', join(dir, 'plain-log.tar'), '--progress', 'plain']);
      expect(res.code, res.stderr).toBe(0);
      const lines = res.stderr.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^pull: resolving .*0\/1 refs/);
      expect(lines.at(-1)).toMatch(/^pull: wrote /);
      expect(res.stderr).not.toContain('\r');
    } finally {
      await proxy.stop();
    }
  }, 120_000);

  // Issue 11: a disk that fills while the output is written (a 2 MiB tmpfs the test mounts; CI runs as root).
  it('says the disk is full, exit 5, and leaves nothing half-written on it', async () => {
    const data = Buffer.alloc(6 << 20);
    for (let off = 0, i = 0; off < data.length; off += 32, i++) createHash('sha256').update(`full:${i}`).digest().copy(data, off);
    const image = makeImage({ os: 'linux', architecture: 'amd64', layers: [await makeLayer({ 'data.bin': data })], manifestMediaType: 'oci' });
    await pushImage(world.registry.url, 'library/full', image, 'v1');
    const disk = join(dir, 'full-disk');
    await mkdir(disk);
    const mounted = await run('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', disk]);
    expect(mounted.code, `mounting a small tmpfs needs root: ${mounted.stderr}`).toBe(0);
    try {
      const alpine = join(ROOT, '..', 'shared', 'interop', 'trivy-alpine-311.tar.gz');
      for (const args of [
        ['pull', `${fx.host}/library/full:v1`, '-o', join(disk, 'full.tar')],
        ['bundle', `${fx.host}/library/full:v1`, '-o', join(disk, 'full.tar.zst'), '--level', '1'],
        // A layer decompressed straight into the output: the full disk is the output's, not the layer's.
        ['pull', alpine, '--layers', 'uncompressed', '-o', join(disk, 'alpine.tar')],
      ]) {
        const res = await airpack(args);
        expect({ args: args.join(' '), code: res.code }, res.stderr).toEqual({ args: args.join(' '), code: 5 });
        expect(res.stderr).toMatch(/no space left/i);
        expect(await readdir(disk)).toEqual([]);
      }
      // The temp space full instead (TMPDIR and --cache-dir on the small disk, the output elsewhere): the same
      // words, no output, and the temp store, scratch copies and partial cache entries gone.
      for (const args of [
        ['pull', `${fx.host}/library/full:v1`, '-o', join(dir, 'tmp-full.tar')],
        ['pull', alpine, '--layers', 'uncompressed', '-o', join(dir, 'tmp-full-alpine.tar')],
        ['bundle', `${fx.host}/library/full:v1`, '--cache-dir', join(disk, 'cache'), '-o', join(dir, 'tmp-full.tar.zst'), '--level', '1'],
      ]) {
        const res = await run('node', ['bin/airpack.js', ...args], { cwd: ROOT, env: { ...process.env, DOCKER_CONFIG: '/nonexistent', TMPDIR: disk } });
        expect({ args: args.join(' '), code: res.code }, res.stderr).toEqual({ args: args.join(' '), code: 5 });
        expect(res.stderr).toMatch(/no space left/i);
        expect(existsSync(args[args.indexOf('-o') + 1]!)).toBe(false);
        // The cache keeps what was verified before the disk filled, whole; nothing partial, nothing else.
        const left = (await readdir(disk, { recursive: true })).filter((n) => !/^cache(\/sha256)?$/.test(n));
        const kept = left.filter((n) => /^cache\/sha256\/[0-9a-f]{64}$/.test(n));
        for (const n of kept) expect(createHash('sha256').update(await readFile(join(disk, n))).digest('hex')).toBe(n.slice(-64));
        expect({ args: args.join(' '), left: left.filter((n) => !kept.includes(n)) }).toEqual({ args: args.join(' '), left: [] });
      }
    } finally {
      await run('umount', [disk]);
    }
  }, 60_000);

  // Issue 13, finding 1: a mistyped option used to be reported only after the whole bundle was written.
  // Issue 13: options that would have been ignored, or read the wrong way, are refused before any work.
  it('refuses options a command would ignore, a stale --version VALUE, a value-less --concurrency; takes --images - with a space; one line each', async () => {
    const release = join(dir, 'release-extra.yaml');
    await writeFile(release, `bundles:\n  - images: [${fx.single.ref}]\n    platforms: [linux/amd64]\n    output: never-built.tar.zst\n`);
    const cases: Array<[string[], RegExp]> = [
      [['bundle', '--release', release, '--level', '99', '--layers', 'original', '-p', 'linux/arm64'], /--release declares --platform, --layers, --level per bundle itself/],
      [['bundle', fx.single.ref, '-o', join(dir, 'named.tar.zst'), '--prog', 'rke2', '--artifact-version', 'v1'], /--prog, --artifact-version name the artifacts of a release set \(--output-dir\); with -o the file is named by -o/],
      [['bundle', fx.single.ref, '-o', join(dir, 'v.tar.zst'), '--version', 'v1.14.0'], /--version v1\.14\.0: .* use --artifact-version v1\.14\.0/],
      [['pull', fx.single.ref, '-o', join(dir, 'c.tar'), '--concurrency'], /Not enough arguments following: concurrency/],
      [['pull', fx.single.ref], /missing -o OUTPUT \[airpack pull --help\]/],
      [['bundle', fx.single.ref, '-o', join(dir, 'lvl.tar.gz'), '--level', '16'], /--level 16: not a gzip level for \S+lvl\.tar\.gz/],
    ];
    for (const [args, message] of cases) {
      const started = Date.now();
      const res = await airpack(args);
      expect({ args, code: res.code }).toEqual({ args, code: 2 });
      expect(res.stderr).toMatch(message);
      expect(res.stderr.trim().split('\n'), res.stderr).toHaveLength(1);
      expect(res.stderr).not.toContain('.airpack-staging-');
      expect(Date.now() - started).toBeLessThan(2000);
    }
    for (const f of ['never-built.tar.zst', 'named.tar.zst', 'v.tar.zst', 'c.tar', 'lvl.tar.gz']) expect(existsSync(join(dir, f)), f).toBe(false);
    // `--images -` as the help writes it (a space, not =) reads the list from stdin.
    const piped = await run('sh', ['-c', `echo ${fx.single.ref} | node bin/airpack.js pull --images - -o '${join(dir, 'stdin.tar')}' --json`], { cwd: ROOT, env: { ...process.env, DOCKER_CONFIG: '/nonexistent' } });
    expect(piped.code, piped.stderr).toBe(0);
    expect(JSON.parse(piped.stdout).images[0].reference).toContain('library/single');
    // From a terminal it would wait for nobody: said, exit 2.
    const fromTerminal = await airpackOnTerminal(`pull --images - -o '${join(dir, 'tty.tar')}'`);
    expect(fromTerminal.code).toBe(2);
    expect(fromTerminal.stdout).toContain('stdin is a terminal');
  });

  // Issue 13: "The README's Commands section and every --help say the same thing". Every long option a
  // command's --help lists is named in that command's README section (its short form will do), the
  // global ones in the section's opening, and every manifest subcommand is described.
  it('names every option of every command\'s --help in its README section, and every manifest subcommand', async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    const start = readme.indexOf('\n## Commands\n');
    const commands = readme.slice(start, readme.indexOf('\n## ', start + 1));
    const [intro, ...sections] = commands.split(/\n(?=### )/);
    const sectionOf = (command: string): string => {
      const found = sections.filter((s) => {
        const heading = s.slice(0, s.indexOf('\n'));
        return heading.includes(`\`airpack ${command}`) || heading.includes(`\`${command}\``);
      });
      expect(found.map((s) => s.slice(0, 60)), command).toHaveLength(1);
      return found[0]!;
    };
    const mentions = (text: string, flag: string): boolean => new RegExp(`(^|[^\\w-])${flag}(?![\\w-])`).test(text);
    const GLOBAL = ['json', 'quiet', 'progress', 'help', 'version'];
    const missing: string[] = [];
    const check = async (argv: string[], section: string): Promise<void> => {
      const help = await airpack([...argv, '--help']);
      expect(help.code, argv.join(' ')).toBe(0);
      // yargs sets the option column at 2 spaces (`-o, --output`) or 6 (`--json`); descriptions and examples are elsewhere.
      const options = [...help.stdout.matchAll(/^(?: {2}-(\w), | {6})--([a-z][a-z-]*)/gm)].map(([, short, long]) => ({ long: long!, short }));
      expect(options.map((o) => o.long), argv.join(' ')).toEqual(expect.arrayContaining(GLOBAL));
      for (const o of options) {
        if (GLOBAL.includes(o.long)) {
          if (!mentions(intro!, `--${o.long}`)) missing.push(`Commands: --${o.long}`);
        } else if (!mentions(section, `--${o.long}`) && !(o.short && mentions(section, `-${o.short}`))) missing.push(`${argv.join(' ')}: --${o.long}`);
      }
    };
    for (const c of ['pull', 'bundle', 'reorder', 'find', 'ls', 'verify', 'extract', 'push', 'serve', 'version']) await check([c], sectionOf(c));
    const manifest = sectionOf('manifest');
    const body = manifest.slice(manifest.indexOf('\n'));
    for (const sub of ['create', 'annotate', 'inspect', 'push', 'rm']) {
      if (!new RegExp(`\`${sub}[ \`]`).test(body)) missing.push(`manifest ${sub}: not described`);
      await check(['manifest', sub], manifest);
    }
    expect([...new Set(missing)]).toEqual([]);
  });

  it('refuses an unknown option before any work', async () => {
    const out = join(dir, 'typo-option.tar.zst');
    const started = Date.now();
    const res = await airpack(['bundle', fx.single.ref, '--cache-dri', join(dir, 'c'), '-o', out]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('unknown option --cache-dri');
    expect(existsSync(out)).toBe(false);
    expect(Date.now() - started).toBeLessThan(3000);
    // --help and --version still answer once.
    const help = await airpack(['bundle', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout.split('airpack bundle').length).toBeGreaterThan(1);
  });
});

/**
 * A docker-save tar whose one layer of `layerBytes` zeros is a hole in the file (truncate): big to
 * hash, free to write. The end-of-archive blocks are zeros too.
 */
async function sparseImageTar(path: string, layerBytes: number): Promise<void> {
  const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
  const hash = createHash('sha256');
  const mib = Buffer.alloc(1 << 20);
  for (let n = 0; n < layerBytes; n += mib.length) hash.update(mib.subarray(0, Math.min(mib.length, layerBytes - n)));
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${hash.digest('hex')}`] } }));
  const configName = `${sha(config)}.json`;
  const manifest = Buffer.from(JSON.stringify([{ Config: configName, RepoTags: ['example.com/zeros:1'], Layers: ['layer.tar'] }]));
  const entry = (name: string, data: Buffer): Buffer[] => [encodeHeader({ name, size: data.length, type: 'file', mtime: 0 }), data, padding(data.length)];
  const head = Buffer.concat([...entry('manifest.json', manifest), ...entry(configName, config), encodeHeader({ name: 'layer.tar', size: layerBytes, type: 'file', mtime: 0 })]);
  await writeFile(path, head);
  await truncate(path, head.length + layerBytes + padding(layerBytes).length + 1024);
}
