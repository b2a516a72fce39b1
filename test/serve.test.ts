/**
 * `airpack serve`: a bundle served as a read-only registry, pulled by the
 * real clients (skopeo, containerd's ctr, podman) and by Debian's
 * docker-registry configured as a pull-through cache in front of it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle } from '../src/index.js';
import { startWorld, type World } from './helpers/world.js';
import { startContainerd, type ContainerdHandle } from './support/containerd.js';
import { startRegistry, type RegistryHandle } from './support/registry.js';
import { run, runOk } from './support/util.js';

const ROOT = join(__dirname, '..');
const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let world: World;
let server: ChildProcess;
let url: string;
let host: string;
let bundlePath: string;
let stderr = '';

/** Starts `airpack serve` on a free port; resolves with its URL once it listens. */
async function startServe(paths: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn('node', [join(ROOT, 'bin/airpack.js'), 'serve', ...paths, '--addr', '127.0.0.1:0', '--json'], { stdio: ['ignore', 'pipe', 'pipe'], env });
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  let out = '';
  const served = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      try {
        resolve((JSON.parse(out) as { url: string }).url);
      } catch {
        /* not all of it yet */
      }
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
  });
  return { child, url: served };
}

beforeAll(async () => {
  world = await startWorld('airpack-serve-');
  bundlePath = join(world.dir, 'served.tar.zst');
  await bundle({ images: [world.fx.multi.ref, world.fx.single.ref], platforms: ['linux/amd64', 'linux/arm64'], output: bundlePath, layers: 'original', level: 3, skipMissing: true });
  ({ child: server, url } = await startServe([bundlePath]));
  host = new URL(url).host;
}, 120_000);

afterAll(async () => {
  server?.kill('SIGTERM');
  await world?.stop();
});

describe('airpack serve', () => {
  it('answers the registry API: /v2/, catalog, tags', async () => {
    const v2 = await fetch(`${url}/v2/`);
    expect(v2.status).toBe(200);
    expect(v2.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    expect(await (await fetch(`${url}/v2/_catalog`)).json()).toEqual({ repositories: ['library/multi', 'library/single'] });
    expect(await (await fetch(`${url}/v2/library/multi/tags/list`)).json()).toEqual({ name: 'library/multi', tags: ['1.0'] });
  });

  it('serves manifests by tag and digest with their media type and digest', async () => {
    const head = await fetch(`${url}/v2/library/single/manifests/latest`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    const digest = head.headers.get('docker-content-digest')!;
    expect(digest).toBe(world.fx.single.manifest.digest);
    expect(head.headers.get('content-type')).toBe('application/vnd.oci.image.manifest.v1+json');
    const byDigest = await fetch(`${url}/v2/library/single/manifests/${digest}`);
    expect(sha256(Buffer.from(await byDigest.arrayBuffer()))).toBe(digest);
    // The multi-platform image: an index whose children are served by digest too.
    const index = (await (await fetch(`${url}/v2/library/multi/manifests/1.0`)).json()) as { manifests: Array<{ digest: string }> };
    expect(index.manifests).toHaveLength(2);
    for (const child of index.manifests) expect((await fetch(`${url}/v2/library/multi/manifests/${child.digest}`, { method: 'HEAD' })).status).toBe(200);
  });

  it('serves blobs whole and by Range, and refuses what a read-only registry must', async () => {
    const layer = world.fx.single.layers[0]!;
    const whole = Buffer.from(await (await fetch(`${url}/v2/library/single/blobs/${layer.digest}`)).arrayBuffer());
    expect(sha256(whole)).toBe(layer.digest);
    const part = await fetch(`${url}/v2/library/single/blobs/${layer.digest}`, { headers: { range: 'bytes=10-99' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 10-99/${whole.length}`);
    expect(Buffer.from(await part.arrayBuffer())).toEqual(whole.subarray(10, 100));
    const tail = await fetch(`${url}/v2/library/single/blobs/${layer.digest}`, { headers: { range: 'bytes=-5' } });
    expect(Buffer.from(await tail.arrayBuffer())).toEqual(whole.subarray(whole.length - 5));
    expect((await fetch(`${url}/v2/library/single/blobs/${layer.digest}`, { headers: { range: 'bytes=99-10' } })).status).toBe(416);
    expect((await fetch(`${url}/v2/library/single/blobs/${layer.digest}`, { headers: { range: `bytes=${whole.length}-` } })).status).toBe(416);
    const put = await fetch(`${url}/v2/library/single/manifests/latest`, { method: 'PUT', body: '{}' });
    expect(put.status).toBe(405);
    expect(((await put.json()) as { errors: Array<{ code: string }> }).errors[0]!.code).toBe('UNSUPPORTED');
    expect((await fetch(`${url}/v2/library/single/blobs/sha256:${'0'.repeat(64)}`)).status).toBe(404);
    expect((await fetch(`${url}/v2/library/nothing/manifests/latest`)).status).toBe(404);
    expect((await fetch(`${url}/v2/library/single/blobs/sha256:abc`)).status).toBe(400);
    // Digests of other algorithms, or not in lower-case hex, name no blob it could check: 400.
    for (const bad of [`md5:${'a'.repeat(32)}`, `sha512:${'a'.repeat(128)}`, `sha256:${'A'.repeat(64)}`, `SHA256:${'a'.repeat(64)}`]) {
      expect({ bad, status: (await fetch(`${url}/v2/library/single/blobs/${bad}`)).status }).toEqual({ bad, status: 400 });
    }
    // A range past the end is cut to the blob (RFC 9110), however huge; one starting past it, or malformed, is 416.
    for (const range of ['bytes=0-99999999999999999999999', `bytes=0-${2n ** 64n}`, 'bytes=-99999999999999999999']) {
      const res = await fetch(`${url}/v2/library/single/blobs/${layer.digest}`, { headers: { range } });
      expect({ range, status: res.status }).toEqual({ range, status: 206 });
      expect(Buffer.from(await res.arrayBuffer())).toEqual(whole);
    }
    for (const range of ['bytes=99999999999999999999-', 'bytes=0-1,5-9', 'bytes=abc', 'items=0-1']) {
      expect({ range, status: (await fetch(`${url}/v2/library/single/blobs/${layer.digest}`, { headers: { range } })).status }).toEqual({ range, status: 416 });
    }
    // Paths that would leave the repository namespace never match one.
    for (const bad of ['/v2/library/../single/manifests/latest', '/v2/library%2Fsingle/manifests/latest', '/v2/library/single/manifests/..%2F..%2Fetc']) {
      const res = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--path-as-is', `${url}${bad}`]);
      expect(['400', '404']).toContain(res.stdout.trim());
    }
  });

  it('skopeo copies every platform, digests as in the bundle', async () => {
    const raw = await runOk('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${host}/library/multi:1.0`]);
    const index = JSON.parse(raw.stdout) as { manifests: Array<{ digest: string; platform: { architecture: string } }> };
    expect(index.manifests.map((m) => m.platform.architecture).sort()).toEqual(['amd64', 'arm64']);
    const dest = join(world.dir, 'skopeo-copy');
    await runOk('skopeo', ['copy', '--all', '--src-tls-verify=false', `docker://${host}/library/multi:1.0`, `oci:${dest}:multi`]);
    const amd64 = world.fx.multi.images.find((c) => c.platform.architecture === 'amd64')!;
    expect(index.manifests.map((m) => m.digest)).toContain(amd64.manifest.digest);
  });

  it('ctr images pull --plain-http pulls from it', async () => {
    let containerd: ContainerdHandle | undefined;
    try {
      containerd = await startContainerd();
      const res = await containerd.ctr(['images', 'pull', '--plain-http', '--platform', 'linux/amd64', `${host}/library/single:latest`]);
      expect(res.code, res.stderr).toBe(0);
      const images = await containerd.listImages();
      expect(images.find((i) => i.name === `${host}/library/single:latest`)?.digest).toBe(world.fx.single.manifest.digest);
    } finally {
      await containerd?.stop();
    }
  });

  it('podman pull --tls-verify=false pulls from it', async () => {
    const store = join(world.dir, 'podman');
    const args = ['--storage-driver', 'vfs', '--root', join(store, 'root'), '--runroot', join(store, 'run')];
    const res = await run('podman', [...args, 'pull', '--tls-verify=false', `${host}/library/single:latest`]);
    expect(res.code, res.stderr).toBe(0);
    const inspect = await runOk('podman', [...args, 'image', 'inspect', '--format', '{{.Digest}}', `${host}/library/single:latest`]);
    expect(inspect.stdout.trim()).toBe(world.fx.single.manifest.digest);
  });

  it('a docker-registry pull-through cache in front of it serves an image only serve holds', async () => {
    let cache: RegistryHandle | undefined;
    try {
      cache = await startRegistry({ proxyRemoteUrl: url });
      const raw = await runOk('skopeo', ['inspect', '--raw', '--tls-verify=false', `docker://${cache.host}/library/single:latest`]);
      expect(sha256(Buffer.from(raw.stdout))).toBe(world.fx.single.manifest.digest);
      const dest = join(world.dir, 'via-cache');
      await runOk('skopeo', ['copy', '--src-tls-verify=false', `docker://${cache.host}/library/single:latest`, `dir:${dest}`]);
    } finally {
      await cache?.stop();
    }
  });

  it('stops on SIGTERM within a second, exit 143', async () => {
    const { child } = await startServe([bundlePath]);
    const started = Date.now();
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(143);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('stops on Ctrl-C within a second, exit 130, and removes the scratch copy a gzip archive needed', async () => {
    const { mkdtempSync, readdirSync, readFileSync, writeFileSync } = await import('node:fs');
    const { gzipSync } = await import('node:zlib');
    const tmp = mkdtempSync(join(world.dir, 'serve-tmp-'));
    const gz = join(world.dir, 'served.tar.gz');
    const plain = join(world.dir, 'served-plain.tar');
    await runOk('node', [join(ROOT, 'bin/airpack.js'), 'pull', world.fx.single.ref, '-o', plain, '-q']);
    writeFileSync(gz, gzipSync(readFileSync(plain)));
    const { child, url } = await startServe([gz], { ...process.env, TMPDIR: tmp });
    // A manifest request opens the archive: the gzip is decompressed into a scratch copy in TMPDIR.
    expect((await fetch(`${url}/v2/library/single/manifests/latest`, { headers: { accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' } })).status).toBe(200);
    expect(readdirSync(tmp).length).toBeGreaterThan(0);
    const started = Date.now();
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(readdirSync(tmp)).toEqual([]);
  });
});

describe('airpack serve under a client that goes away', () => {
  it('an abandoned Range read of a big blob does not hold up the next request', async () => {
    const { randomBytes, createHash: hash } = await import('node:crypto');
    const tarStream = (await import('tar-stream')).default;
    const { writeFileSync } = await import('node:fs');
    const layer = randomBytes(12 * 1024 * 1024);
    const diffId = `sha256:${hash('sha256').update(layer).digest('hex')}`;
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] } }));
    const pack = tarStream.pack();
    const chunks: Buffer[] = [];
    pack.on('data', (c: unknown) => chunks.push(c as Buffer));
    pack.entry({ name: 'manifest.json' }, JSON.stringify([{ Config: 'config.json', RepoTags: ['example.com/big:1'], Layers: ['layer.tar'] }]));
    pack.entry({ name: 'config.json' }, config);
    pack.entry({ name: 'layer.tar' }, layer);
    pack.finalize();
    await new Promise<void>((r) => pack.on('end', () => r()));
    const tar = join(world.dir, 'big.tar');
    writeFileSync(tar, Buffer.concat(chunks));
    const big = join(world.dir, 'big.tar.zst');
    await bundle({ images: [tar], output: big, level: 1 });
    const { child, url: bigUrl } = await startServe([big]);
    try {
      // Read 1 KB of a 12 MB range, then hang up.
      const http = await import('node:http');
      await new Promise<void>((resolve) => {
        const req = http.get(`${bigUrl}/v2/big/blobs/${diffId}`, { headers: { range: 'bytes=0-12000000' } }, (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', () => resolve());
      });
      const started = Date.now();
      const res = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '5', `${bigUrl}/v2/big/manifests/1`]);
      expect(res.stdout).toBe('200');
      const whole = await run('sh', ['-c', `curl -s --max-time 10 '${bigUrl}/v2/big/blobs/${diffId}' | sha256sum`]);
      expect(whole.stdout.split(' ')[0]).toBe(diffId.slice(7));
      expect(Date.now() - started).toBeLessThan(8000);
    } finally {
      child.kill('SIGTERM');
    }
  });
});

describe('airpack serve under load', () => {
  // In process, so its file descriptors and memory are this process's to count.
  it('serves 32 clients at once, every blob whole, memory bounded, no descriptor left when it stops', async () => {
    const { serve } = await import('../src/serve/server.js');
    const { readdirSync } = await import('node:fs');
    const fds = (): number => readdirSync('/proc/self/fd').length;
    // A bundle of several MiB of layers in several frames, so clients need different frames at once.
    const big = join(world.dir, 'load.tar.zst');
    await bundle({ images: [world.fx.multi.ref, world.fx.single.ref, world.fx.windows.ref], platforms: ['linux/amd64', 'linux/arm64'], output: big, layers: 'original', level: 3, frameSize: 64 * 1024, skipMissing: true });
    const before = fds();
    const local = await serve([big], { addr: '127.0.0.1:0' });
    try {
      // Every blob of every platform manifest the server lists.
      const blobs: Array<{ repo: string; digest: string }> = [];
      for (const repo of local.repositories) {
        const tags = ((await (await fetch(`${local.url}/v2/${repo}/tags/list`)).json()) as { tags: string[] }).tags;
        const top = (await (await fetch(`${local.url}/v2/${repo}/manifests/${tags[0]}`, { headers: { accept: 'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json' } })).json()) as { manifests?: Array<{ digest: string }>; layers?: Array<{ digest: string }>; config?: { digest: string } };
        const manifests = top.manifests ? await Promise.all(top.manifests.map(async (m) => (await (await fetch(`${local.url}/v2/${repo}/manifests/${m.digest}`)).json()) as typeof top)) : [top];
        for (const m of manifests) for (const d of [m.config!, ...(m.layers ?? [])]) if ((await fetch(`${local.url}/v2/${repo}/blobs/${d.digest}`, { method: 'HEAD' })).status === 200) blobs.push({ repo, digest: d.digest });
      }
      expect(blobs.length).toBeGreaterThan(5);
      const rssBefore = process.memoryUsage().rss;
      let peak = rssBefore;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
      // 32 clients, each fetching every blob (in a different order) and checking its digest.
      const clients = Array.from({ length: 32 }, async (_, c) => {
        const order = [...blobs.slice(c % blobs.length), ...blobs.slice(0, c % blobs.length)];
        for (const b of order) {
          const res = await fetch(`${local.url}/v2/${b.repo}/blobs/${b.digest}`);
          expect(res.status).toBe(200);
          expect(sha256(Buffer.from(await res.arrayBuffer()))).toBe(b.digest);
        }
      });
      await Promise.all(clients);
      clearInterval(sampler);
      // Four readers at most, each a decoder window and a few pieces: well under 256 MiB over the start.
      expect((peak - rssBefore) / 2 ** 20).toBeLessThan(256);
    } finally {
      await local.close();
    }
    // Every descriptor it opened (listener, sockets, bundle files, decoder files) is closed again.
    await new Promise((r) => setTimeout(r, 200));
    expect(fds()).toBeLessThanOrEqual(before);
  }, 120_000);
});
