/**
 * demo: a real run on a fresh machine, no internet needed. Starts Debian's
 * docker-registry on 127.0.0.1 with sample images (a multi-arch Linux image,
 * a Windows image list with 1809 / ltsc2022 / ltsc2025 children whose base
 * layers are foreign, served from a second loopback server), then runs the
 * airpack CLI against it and shows what it wrote. Everything is stopped and
 * removed at the end unless --keep is given.
 *
 * Usage: npm run demo [-- --keep]
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startBlobServer } from '../test/support/foreign-server.js';
import { seedStandardImages } from '../test/support/fixtures.js';
import { REGISTRY_BIN, startRegistry } from '../test/support/registry.js';

const AIRPACK = resolve(new URL('.', import.meta.url).pathname, '../../bin/airpack.js');

// Child processes run asynchronously: the foreign-layer server lives in this process and must keep answering.
function exec(cmd: string, args: string[], inherit: boolean): Promise<{ code: number | null; output: string }> {
  return new Promise((done, fail) => {
    const child = spawn(cmd, args, { stdio: inherit ? 'inherit' : ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code, output }));
  });
}

async function airpack(args: string[]): Promise<void> {
  console.log(`\n$ airpack ${args.join(' ')}`);
  const { code } = await exec('node', [AIRPACK, ...args], true);
  if (code !== 0) throw new Error(`airpack ${args[0]} exited ${code}`);
}

async function show(cmd: string, args: string[], lines = 8): Promise<void> {
  console.log(`\n$ ${cmd} ${args.join(' ')} | head -${lines}`);
  const { output } = await exec(cmd, args, false);
  console.log(output.split('\n').slice(0, lines).join('\n'));
}

async function main(): Promise<void> {
  if (!existsSync(REGISTRY_BIN)) {
    console.error(`${REGISTRY_BIN} not found: apt-get install -y docker-registry (Debian's CNCF distribution registry)`);
    process.exitCode = 2;
    return;
  }
  const keep = process.argv.includes('--keep');
  const out = mkdtempSync(join(tmpdir(), 'airpack-demo-'));
  const registry = await startRegistry();
  const blobs = await startBlobServer();
  try {
    const fx = await seedStandardImages(registry, blobs);
    console.log(`registry on ${registry.url} with sample images; foreign Windows layers on ${blobs.url}`);

    await airpack(['pull', fx.multi.ref, fx.single.ref, '-p', 'linux/amd64', '-p', 'linux/arm64', '--skip-missing', '-o', join(out, 'linux.tar')]);
    await airpack(['pull', fx.windows.ref, '-p', 'windows/amd64:ltsc2022', '-o', join(out, 'windows-ltsc2022.tar'), '--json']);
    await show('bsdtar', ['-tf', join(out, 'windows-ltsc2022.tar')], 5);
    if (existsSync('/usr/bin/skopeo')) {
      // skopeo reads the docker-archive side (manifest.json) and computes the digest of the docker
      // manifest it rebuilds from it, as docker load would; airpack's --json above shows the registry's.
      console.log('\n(skopeo reads manifest.json and rebuilds a docker manifest, so its digest is of that rebuilt manifest, not the registry\'s)');
      await show('skopeo', ['inspect', '--format', '{{.Os}}/{{.Architecture}} {{.Digest}}', `docker-archive:${join(out, 'windows-ltsc2022.tar')}`], 3);
    }
    await airpack(['bundle', fx.multi.ref, fx.windows.ref, '-p', 'linux/amd64', '-p', 'windows/amd64:ltsc2022', '--skip-missing', '--output-dir', out, '--preset', 'rke2', '--prog', 'demo']);
    await airpack(['find', `${fx.host}/windows/servercore:ltsc`, out]);
    await airpack(['verify', join(out, 'demo-windows-ltsc2022-amd64-images.tar.zst')]);
    // Archives on disk are inputs too: one platform out of a bundle, plus an image pulled earlier.
    await airpack(['bundle', join(out, 'demo-images.linux-amd64.tar.zst'), `docker-archive:${join(out, 'windows-ltsc2022.tar')}`, '-p', 'linux/amd64', '-p', 'windows/amd64:ltsc2022', '--skip-missing', '-o', join(out, 'from-archives.tar.zst')]);
    await airpack(['ls', join(out, 'from-archives.tar.zst')]);
    console.log(`\narchives in ${out}${keep ? '' : ' (removed at exit; --keep keeps them)'}`);
  } finally {
    await registry.stop();
    await blobs.stop();
    if (!keep) rmSync(out, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
