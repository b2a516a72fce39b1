/**
 * `airpack push` of a bundle whose layers are stored as plain tars (the
 * default `--layers uncompressed`): the layers go into the registry gzip-
 * compressed (or zstd, or as they are), deterministically, and real clients
 * pull and unpack them (ctr and podman check every layer against the
 * config's diff_ids while unpacking).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle, push } from '../src/index.js';
import { startWorld, type World } from './helpers/world.js';
import { startContainerd } from './support/containerd.js';
import { startRegistry, type RegistryHandle } from './support/registry.js';
import { run, runOk } from './support/util.js';

const ROOT = join(__dirname, '..');
let world: World;
let bundlePath: string;

interface Doc {
  mediaType?: string;
  manifests?: Array<{ digest: string; mediaType: string; platform: { architecture: string } }>;
  config?: { mediaType: string };
  layers?: Array<{ mediaType: string; digest: string }>;
}

const raw = async (ref: string): Promise<Doc> => JSON.parse((await runOk('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${ref}`])).stdout) as Doc;

/** Every layer media type of an image (each child of an index). */
async function layerTypes(ref: string): Promise<string[]> {
  const top = await raw(ref);
  const repo = ref.replace(/[:@][^/]*$/, '');
  const manifests = top.manifests ? await Promise.all(top.manifests.map((m) => raw(`${repo}@${m.digest}`))) : [top];
  return [...new Set(manifests.flatMap((m) => (m.layers ?? []).map((l) => l.mediaType)))].sort();
}

beforeAll(async () => {
  world = await startWorld('airpack-push-compress-');
  bundlePath = join(world.dir, 'plain-layers.tar.zst');
  // The default layer mode: layer tars as docker save stores them.
  await bundle({ images: [world.fx.multi.ref, world.fx.dockerlist.ref, world.fx.sharedA.ref, world.fx.sharedB.ref], platforms: ['linux/amd64', 'linux/arm64'], output: bundlePath, level: 3, skipMissing: true });
}, 120_000);

afterAll(() => world?.stop());

describe('push of plain-tar layers', () => {
  const sites: RegistryHandle[] = [];
  const site = async (): Promise<RegistryHandle> => {
    const s = await startRegistry();
    sites.push(s);
    return s;
  };
  afterAll(() => Promise.all(sites.map((s) => s.stop())));

  it('gzip by default, said and written to --digests-file; ctr unpacks them; the same digests on every run', async () => {
    const a = await site();
    const digestsFile = join(world.dir, 'digests.txt');
    const cli = await run('node', [join(ROOT, 'bin/airpack.js'), 'push', bundlePath, '--registry', a.host, '--digests-file', digestsFile]);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(/library\/dockerlist:2\.0 -> .* \(plain layers gzip-compressed: new digest, was sha256:[0-9a-f]{64}; --layer-compression none keeps it\)/);
    const rows = (await readFile(digestsFile, 'utf8')).trim().split('\n').sort().map((l) => l.split(' '));
    expect(rows.map((r) => r[0])).toEqual([`${a.host}/library/dockerlist:2.0`, `${a.host}/library/multi:1.0`, `${a.host}/library/shared-a:1`, `${a.host}/library/shared-b:1`]);
    const lines = rows.map((r) => r[1]!);
    for (const [i, line] of lines.entries()) {
      expect(line).toBe(`${rows[i]![0]!.replace(/:[^:/]+$/, '')}@${line.split('@')[1]}`);
      // Each pinned reference resolves, and every layer behind it is gzip of its family.
      expect(await layerTypes(line)).toEqual(line.includes('dockerlist') ? ['application/vnd.docker.image.rootfs.diff.tar.gzip'] : ['application/vnd.oci.image.layer.v1.tar+gzip']);
    }
    // The bundle's index over the Docker manifests, re-pointed at their new digests; they stay Docker manifests.
    const list = await raw(`${a.host}/library/dockerlist:2.0`);
    expect(new Set(list.manifests!.map((m) => m.mediaType))).toEqual(new Set(['application/vnd.docker.distribution.manifest.v2+json']));
    expect(list.manifests!.map((m) => m.digest)).not.toContain(world.fx.dockerlist.byPlatform['linux/arm64']!.manifest.digest);

    // containerd pulls and unpacks per platform: each layer's gzip decompresses to its diff_id.
    const containerd = await startContainerd();
    try {
      for (const [ref, platform] of [[`${a.host}/library/dockerlist:2.0`, 'linux/arm64'], [`${a.host}/library/multi:1.0`, 'linux/amd64']] as const) {
        const pulled = await containerd.ctr(['images', 'pull', '--plain-http', '--platform', platform, ref]);
        expect(pulled.code, pulled.stderr).toBe(0);
      }
    } finally {
      await containerd.stop();
    }

    // Deterministic: again into the same registry sends nothing; into another one gives the same digests.
    const again = await push({ sources: [bundlePath], registry: a.host });
    expect(again.blobs.uploaded).toBe(0);
    const b = await site();
    const other = await push({ sources: [bundlePath], registry: b.host });
    expect(other.images.map((i) => `${i.target.replace(b.host, a.host).replace(/:[^:/]+$/, '')}@${i.digest}`).sort()).toEqual(lines);
  });

  it('zstd: OCI types throughout (Docker manifests become OCI manifests), and podman pulls it', async () => {
    const s = await site();
    const res = await push({ sources: [bundlePath], registry: s.host, layerCompression: 'zstd' });
    expect(res.images.every((i) => i.layersCompressed === 'zstd')).toBe(true);
    const list = await raw(`${s.host}/library/dockerlist:2.0`);
    expect(list.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(new Set(list.manifests!.map((m) => m.mediaType))).toEqual(new Set(['application/vnd.oci.image.manifest.v1+json']));
    const child = await raw(`${s.host}/library/dockerlist@${list.manifests![0]!.digest}`);
    expect(child.config!.mediaType).toBe('application/vnd.oci.image.config.v1+json');
    expect(await layerTypes(`${s.host}/library/dockerlist:2.0`)).toEqual(['application/vnd.oci.image.layer.v1.tar+zstd']);
    // podman decompresses every layer into its store and checks it against the config's diff_ids.
    // podman wants a runroot of at most 50 characters.
    const store = await mkdtemp('/tmp/apz-');
    const args = ['--storage-driver', 'vfs', '--root', join(store, 'root'), '--runroot', join(store, 'run')];
    const pulled = await run('podman', [...args, 'pull', '--tls-verify=false', '--arch', 'arm64', `${s.host}/library/dockerlist:2.0`]);
    expect(pulled.code, pulled.stderr).toBe(0);
    const arch = await runOk('podman', [...args, 'image', 'inspect', '--format', '{{.Architecture}}', `${s.host}/library/dockerlist:2.0`]);
    expect(arch.stdout.trim()).toBe('arm64');
    await rm(store, { recursive: true, force: true });
  });

  it('none: the plain tars go up as they are, under the digests the bundle has', async () => {
    const s = await site();
    const dry = await push({ sources: [bundlePath], registry: s.host, dryRun: true });
    const res = await push({ sources: [bundlePath], registry: s.host, layerCompression: 'none' });
    expect(res.images.some((i) => i.layersCompressed)).toBe(false);
    // The gzip dry run says compression would happen, and printed the bundle's digests: the ones 'none' pushes.
    expect(dry.images.every((i) => i.layersCompressed === 'gzip')).toBe(true);
    expect(res.images.map((i) => i.digest).sort()).toEqual(dry.images.map((i) => i.digest).sort());
    expect(await layerTypes(`${s.host}/library/multi:1.0`)).toEqual(['application/vnd.oci.image.layer.v1.tar']);
    await runOk('skopeo', ['copy', '--all', '--src-tls-verify=false', `docker://${s.host}/library/multi:1.0`, `oci:${join(world.dir, 'plain-copy')}:multi`]);
  });

  it('refuses an unknown --layer-compression and a --digests-file in a missing directory before any work', async () => {
    const s = await site();
    const cli = (...args: string[]) => run('node', [join(ROOT, 'bin/airpack.js'), 'push', bundlePath, '--registry', s.host, ...args]);
    const bad = await cli('--layer-compression', 'lz4');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/layer-compression.*gzip.*zstd.*none/s);
    const nodir = await cli('--digests-file', join(world.dir, 'no-such-dir', 'digests.txt'));
    expect(nodir.code).toBe(2);
    expect(nodir.stderr).toMatch(/--digests-file/);
    // Nothing went up.
    const catalog = await run('curl', ['-sf', `${s.url}/v2/_catalog`]);
    expect(JSON.parse(catalog.stdout)).toEqual({ repositories: [] });
  });
});
