/**
 * Windows foreign layers on push, decided by measurement: a site node has no
 * route to the URLs in a Windows manifest. With the blob server behind those
 * URLs stopped (a closed port), `ctr images pull --platform windows/amd64`
 * from the site registry fails on the URL when the manifest keeps it, even
 * though the registry holds the blob; with airpack's default rewrite (URLs
 * dropped, distributable media type) it pulls. So the rewrite is the default
 * and `--keep-foreign-urls` the flag.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle } from '../src/index.js';
import { startWorld, type World } from './helpers/world.js';
import { startContainerd, type ContainerdHandle } from './support/containerd.js';
import { startRegistry, type RegistryHandle } from './support/registry.js';
import { run, runOk } from './support/util.js';

const ROOT = join(__dirname, '..');
let world: World;
let containerd: ContainerdHandle;
let site: RegistryHandle;
let bundlePath: string;
let bundledIndex: string;

beforeAll(async () => {
  [world, containerd, site] = await Promise.all([startWorld('airpack-push-windows-'), startContainerd(), startRegistry()]);
  bundlePath = join(world.dir, 'windows.tar.zst');
  // The ltsc2022 child and the linux one of the Windows list, original layers (foreign ones downloaded).
  await bundle({ images: [world.fx.windows.ref], platforms: ['windows/amd64:ltsc2022', 'linux/amd64'], output: bundlePath, layers: 'original', level: 3 });
  // The index the bundle holds (airpack's, over the two platforms bundled).
  const listing = JSON.parse((await runOk('node', [join(ROOT, 'bin/airpack.js'), 'ls', '--json', bundlePath])).stdout) as Array<{ images: Array<{ digest: string }> }>;
  bundledIndex = listing[0]!.images[0]!.digest;
  // From here on the foreign layers' URLs point at a closed port, as on a site.
  await world.blobServer.stop();
}, 120_000);

afterAll(async () => {
  await Promise.all([site?.stop(), containerd?.stop()]);
  await world?.stop().catch(() => {});
});

const airpack = (args: string[]) => run('node', [join(ROOT, 'bin/airpack.js'), ...args], { env: { ...process.env, DOCKER_CONFIG: '/nonexistent' } });
const raw = async (ref: string, extra: string[] = []) => JSON.parse((await runOk('skopeo', ['inspect', '--raw', '--tls-verify=false', ...extra, `docker://${ref}`])).stdout);

describe('push with Windows foreign layers', () => {
  it('with --keep-foreign-urls pushes the manifests byte for byte, and that node cannot pull (why it is not the default)', async () => {
    // First, while containerd's content store holds none of these blobs.
    const res = await airpack(['push', bundlePath, '--registry', `${site.host}/kept`, '--keep-foreign-urls', '--json']);
    expect(res.code, res.stderr).toBe(0);
    const [image] = (JSON.parse(res.stdout) as { images: Array<{ target: string; digest: string; foreignLayers?: string }> }).images;
    expect(image!.foreignLayers).toBe('kept');
    expect(image!.digest).toBe(bundledIndex);
    const pulled = await containerd.ctr(['images', 'pull', '--plain-http', '--platform', 'windows/amd64', image!.target]);
    expect(pulled.code).not.toBe(0);
    expect(pulled.stderr).toMatch(/connection refused/);
  });

  it('by default rewrites them, says so, and a node with no route to the URLs pulls from the site registry', async () => {
    const res = await airpack(['push', bundlePath, '--registry', `${site.host}/rewritten`, '--json']);
    expect(res.code, res.stderr).toBe(0);
    const [image] = (JSON.parse(res.stdout) as { images: Array<{ target: string; digest: string; foreignLayers?: string; sourceDigest?: string; children: string[] }> }).images;
    expect(image!.foreignLayers).toBe('rewritten');
    // A new index over the rewritten child, in place of the bundle's.
    expect(image!.sourceDigest).toBe(bundledIndex);
    expect(image!.digest).not.toBe(bundledIndex);
    const list = await raw(image!.target);
    const windows = list.manifests.find((m: { platform: { os: string } }) => m.platform.os === 'windows');
    expect(windows.platform['os.version']).toBe('10.0.20348.2227');
    const child = await raw(`${site.host}/rewritten/windows/servercore@${windows.digest}`);
    expect(child.layers.every((l: { urls?: string[]; mediaType: string }) => !l.urls && !/foreign|nondistributable/.test(l.mediaType))).toBe(true);
    // The linux child had no foreign layer: its digest is the source's.
    const linux = list.manifests.find((m: { platform: { os: string } }) => m.platform.os === 'linux');
    expect(linux.digest).toBe(world.fx.windows.linux.manifest.digest);
    const pulled = await containerd.ctr(['images', 'pull', '--plain-http', '--platform', 'windows/amd64', image!.target]);
    expect(pulled.code, pulled.stderr).toBe(0);
    // skopeo resolves the pushed tag per platform, as a site's tooling would: --override-os picks each child.
    for (const [os, child] of [['windows', windows], ['linux', linux]] as const) {
      const out = join(world.dir, `override-${os}`);
      await runOk('skopeo', ['copy', '--quiet', '--src-tls-verify=false', '--override-os', os, '--override-arch', 'amd64', `docker://${image!.target}`, `dir:${out}`]);
      expect(`sha256:${createHash('sha256').update(await readFile(join(out, 'manifest.json'))).digest('hex')}`, os).toBe(child.digest);
    }
    // The human output says which was done.
    const again = await airpack(['push', bundlePath, '--registry', `${site.host}/rewritten`]);
    expect(again.stdout).toContain('foreign layers pushed as ordinary blobs, URLs dropped');
  });

});
