/**
 * `airpack bundle` through the CLI entry point (main(argv), in process):
 * flags, the velero Makefile environment, --json output and exit codes.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../src/cli/main.js';
import type { BundleResult } from '../src/index.js';

import { type StandardFixtures } from './support/fixtures.js';
import { startWorld, type World } from './helpers/world.js';

let world: World;
let fx: StandardFixtures;
let dir: string;

beforeAll(async () => {
  world = await startWorld('airpack-bundle-cli-');
  ({ fx, dir } = world);
}, 60_000);

afterAll(() => world?.stop());

async function cli(argv: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const saved = { ...process.env };
  Object.assign(process.env, env);
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => (out.push(String(c)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => (err.push(String(c)), true));
  try {
    const code = await main(argv);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    o.mockRestore();
    e.mockRestore();
    for (const k of Object.keys(env)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

describe('airpack bundle (CLI)', () => {
  it('writes an rke2 release set from an image list, --json result', async () => {
    const list = join(dir, 'images.txt');
    await (await import('node:fs/promises')).writeFile(list, `# rke2 images\n${fx.windows.ref}\n`);
    const outDir = join(dir, 'rke2');
    const res = await cli(['bundle', '--images', list, '-p', 'linux/amd64', '-p', 'windows/amd64:ltsc2022', '--output-dir', outDir, '--preset', 'rke2', '--prog', 'rke2', '--json']);
    expect(res.code, res.stderr).toBe(0);
    const result = JSON.parse(res.stdout) as BundleResult;
    expect(result.layers).toBe('uncompressed');
    expect(result.artifacts.map((a) => a.name)).toEqual(['rke2-images.linux-amd64.tar.zst', 'rke2-windows-ltsc2022-amd64-images.tar.zst']);
    expect(result.checksumFiles).toEqual([join(outDir, 'sha256sum-amd64.txt')]);
  });

  it('writes one artifact per --set NAME=LIST and platform', async () => {
    const list = join(dir, 'images-canal.txt');
    await (await import('node:fs/promises')).writeFile(list, `${fx.multi.ref}\n`);
    const outDir = join(dir, 'sets');
    const res = await cli(['bundle', fx.single.ref, '--set', `canal=${list}`, '--output-dir', outDir, '--preset', 'rke2', '--json']);
    expect(res.code, res.stderr).toBe(0);
    expect((JSON.parse(res.stdout) as BundleResult).artifacts.map((a) => a.name)).toEqual(['rke2-images.linux-amd64.tar.zst', 'rke2-images-canal.linux-amd64.tar.zst']);
    expect((await cli(['bundle', '--set', 'nolist', '--output-dir', outDir, '--preset', 'rke2'])).code).toBe(2);
  });

  it('reads BUILD_OS, BUILD_ARCH, BUILD_WINDOWS_VERSION and VERSION as velero\'s Makefile sets them; --version and --bin name it', async () => {
    const outDir = join(dir, 'velero');
    const res = await cli(['bundle', fx.windows.ref, '--output-dir', outDir, '--preset', 'velero', '--bin', 'velero-restore-helper', '--layers', 'original'], {
      BUILD_OS: 'linux windows',
      BUILD_ARCH: 'amd64',
      BUILD_WINDOWS_VERSION: 'ltsc2022',
      VERSION: 'v1.14.0',
    });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain('_output/velero-restore-helper-v1.14.0-linux-amd64.tar');
    expect((await readdir(join(outDir, '_output'))).sort()).toEqual([
      'sha256sum-amd64.txt',
      'velero-restore-helper-v1.14.0-linux-amd64.tar',
      'velero-restore-helper-v1.14.0-linux-amd64.txt',
      'velero-restore-helper-v1.14.0-windows-ltsc2022-amd64.tar',
      'velero-restore-helper-v1.14.0-windows-ltsc2022-amd64.txt',
    ]);
    const flag = await cli(['bundle', fx.single.ref, '--output-dir', join(dir, 'v2'), '--preset', 'velero', '--artifact-version', 'v2.0.0', '-q']);
    expect(flag.code, flag.stderr).toBe(0);
    expect(await readdir(join(dir, 'v2', '_output'))).toContain('velero-v2.0.0-linux-amd64.tar');
  });

  it('builds every bundle of a release description, checksums once over all of them', async () => {
    const fs = await import('node:fs/promises');
    const rel = join(dir, 'release');
    await fs.mkdir(rel, { recursive: true });
    await fs.writeFile(join(rel, 'images.txt'), `${fx.multi.ref}\n`);
    await fs.writeFile(join(rel, 'images-canal.txt'), `${fx.single.ref}\n`);
    await fs.writeFile(join(rel, 'windows-images.txt'), `${fx.windows.ref}\n`);
    await fs.writeFile(
      join(rel, 'airpack.json'),
      JSON.stringify({
        outputDir: 'dist/artifacts',
        preset: 'rke2',
        prog: 'rke2',
        bundles: [
          { imagesFile: 'images.txt', platforms: ['linux/amd64', 'linux/arm64'] },
          { set: 'canal', imagesFile: 'images-canal.txt', platforms: ['linux/amd64'] },
          { imagesFile: 'windows-images.txt', platforms: ['windows/amd64:ltsc2022'] },
        ],
      }),
    );
    const res = await cli(['bundle', '--release', join(rel, 'airpack.json'), '-q']);
    expect(res.code, res.stderr).toBe(0);
    const out = join(rel, 'dist/artifacts');
    expect((await readdir(out)).sort()).toEqual([
      'rke2-images-canal.linux-amd64.tar.zst',
      'rke2-images-canal.linux-amd64.txt',
      'rke2-images.linux-amd64.tar.zst',
      'rke2-images.linux-amd64.txt',
      'rke2-images.linux-arm64.tar.zst',
      'rke2-images.linux-arm64.txt',
      'rke2-windows-ltsc2022-amd64-images.tar.zst',
      'rke2-windows-ltsc2022-amd64-images.txt',
      'sha256sum-amd64.txt',
      'sha256sum-arm64.txt',
    ]);
    expect((await fs.readFile(join(out, 'sha256sum-amd64.txt'), 'utf8')).trim().split('\n')).toHaveLength(6);
    const { runOk } = await import('./support/util.js');
    await runOk('sha256sum', ['-c', 'sha256sum-amd64.txt', 'sha256sum-arm64.txt'], { cwd: out });
    // The same release as YAML gives the same artifacts, byte for byte.
    await fs.writeFile(
      join(rel, 'airpack.yaml'),
      [
        '# rke2-style release',
        'outputDir: dist/yaml',
        'preset: rke2',
        'prog: rke2',
        'bundles:',
        '  - imagesFile: images.txt',
        '    platforms: [linux/amd64, linux/arm64]',
        '  - set: canal',
        '    imagesFile: images-canal.txt',
        '    platforms: [linux/amd64]',
        '  - imagesFile: windows-images.txt',
        '    platforms: ["windows/amd64:ltsc2022"]',
        '',
      ].join('\n'),
    );
    const yamlRes = await cli(['bundle', '--release', join(rel, 'airpack.yaml'), '-q']);
    expect(yamlRes.code, yamlRes.stderr).toBe(0);
    for (const name of ['sha256sum-amd64.txt', 'sha256sum-arm64.txt']) {
      expect(await fs.readFile(join(rel, 'dist/yaml', name), 'utf8')).toBe(await fs.readFile(join(out, name), 'utf8'));
    }
    await fs.writeFile(join(rel, 'bad.yaml'), 'bundles:\n  - imagesFile: images.txt\n   platforms: [linux/amd64\n');
    const badYaml = await cli(['bundle', '--release', join(rel, 'bad.yaml')]);
    expect(badYaml.code).toBe(2);
    expect(badYaml.stderr).toMatch(/release description .*bad\.yaml: .*line/);
    await fs.writeFile(join(rel, 'bad.json'), JSON.stringify({ bundles: [{ imagesFile: 'images.txt', colour: 'red' }] }));
    const bad = await cli(['bundle', '--release', join(rel, 'bad.json')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown field "colour"');
  });

  it('exits 2 on contradictory or missing output options', async () => {
    expect((await cli(['bundle', fx.single.ref])).code).toBe(2);
    expect((await cli(['bundle', fx.single.ref, '-o', join(dir, 'x.tar.zst'), '--output-dir', dir])).code).toBe(2);
    expect((await cli(['bundle', fx.single.ref, '--output-dir', join(dir, 'nopreset')])).code).toBe(2);
  });

  it('exits 3 when an image lacks a platform, naming it', async () => {
    const res = await cli(['bundle', fx.single.ref, '-p', 'linux/s390x', '-o', join(dir, 's390x.tar.zst')]);
    expect(res.code).toBe(3);
    expect(res.stderr).toContain('single');
  });
});
