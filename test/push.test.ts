/**
 * `airpack push`: a bundle into a fresh registry (Debian's docker-registry,
 * open and with htpasswd), read back with skopeo: by tag, by digest and per
 * platform, digests identical to the source registry's; a second push
 * sends nothing; a prefix and a dry run.
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle, push, RegistryClient } from '../src/index.js';
import { RegistryWriter } from '../src/sink/registry-sink.js';
import { startWorld, type World } from './helpers/world.js';
import { startFaultProxy } from './support/fault-proxy.js';
import { startRegistry, type RegistryHandle } from './support/registry.js';
import { run, runOk } from './support/util.js';
import { childDescriptor, makeImage, makeLayer, pushImage, pushManifest, seededText } from './support/fixtures.js';
import { bigArchive } from './helpers/big-archive.js';

const ROOT = join(__dirname, '..');
let world: World;
let bundlePath: string;

beforeAll(async () => {
  world = await startWorld('airpack-push-');
  bundlePath = join(world.dir, 'release.tar.zst');
  await bundle({
    images: [world.fx.multi.ref, world.fx.single.ref, world.fx.dockerlist.ref],
    platforms: ['linux/amd64', 'linux/arm64'],
    output: bundlePath,
    layers: 'original',
    level: 3,
    skipMissing: true,
  });
}, 120_000);

afterAll(() => world?.stop());

const inspectRaw = async (ref: string, extra: string[] = []): Promise<string> => (await runOk('skopeo', ['inspect', '--raw', '--tls-verify=false', ...extra, `docker://${ref}`])).stdout;
const digestOf = async (ref: string, extra: string[] = []): Promise<string> =>
  (JSON.parse((await runOk('skopeo', ['inspect', '--tls-verify=false', ...extra, `docker://${ref}`])).stdout) as { Digest: string }).Digest;

describe('airpack push', () => {
  let site: RegistryHandle;
  beforeAll(async () => {
    site = await startRegistry();
  });
  afterAll(() => site?.stop());

  it('pushes every image under its own name, digests kept, and a second push sends nothing', async () => {
    const first = await push({ sources: [bundlePath], registry: site.host });
    expect(first.images.map((i) => i.target).sort()).toEqual([`${site.host}/library/dockerlist:2.0`, `${site.host}/library/multi:1.0`, `${site.host}/library/single:latest`]);
    expect(first.blobs.uploaded).toBeGreaterThan(0);
    // The single-platform image: the source registry's manifest digest, by tag and by digest.
    expect(await digestOf(`${site.host}/library/single:latest`)).toBe(world.fx.single.manifest.digest);
    await runOk('skopeo', ['inspect', '--tls-verify=false', `docker://${site.host}/library/single@${world.fx.single.manifest.digest}`]);
    // The multi-platform image: its index as the bundle holds it, and each child per platform with the source's digest.
    const pushedIndex = first.images.find((i) => i.target.endsWith('/library/multi:1.0'))!;
    const children = async (ref: string): Promise<Record<string, string>> =>
      Object.fromEntries((JSON.parse(await inspectRaw(ref)) as { manifests: Array<{ digest: string; platform: { architecture: string } }> }).manifests.map((m) => [m.platform.architecture, m.digest]));
    expect(await children(`${site.host}/library/multi:1.0`)).toEqual({ amd64: world.fx.multi.byPlatform['linux/amd64']!.manifest.digest, arm64: world.fx.multi.byPlatform['linux/arm64/v8']!.manifest.digest });
    // Each child resolves per platform, as a node pulling it would ask for it.
    const arm64 = JSON.parse(await inspectRaw(`${site.host}/library/multi@${world.fx.multi.byPlatform['linux/arm64/v8']!.manifest.digest}`)) as { config: { digest: string } };
    expect(arm64.config.digest).toBe(world.fx.multi.byPlatform['linux/arm64/v8']!.config.digest);
    expect(JSON.parse(await inspectRaw(`${site.host}/library/multi@${pushedIndex.digest}`))).toMatchObject({ manifests: expect.any(Array) });
    // A Docker manifest list's children keep their Docker media type and digest.
    expect((await children(`${site.host}/library/dockerlist:2.0`)).arm64).toBe(world.fx.dockerlist.byPlatform['linux/arm64']!.manifest.digest);
    // skopeo copies it all out again: every blob is there and is what its digest says.
    await runOk('skopeo', ['copy', '--all', '--src-tls-verify=false', `docker://${site.host}/library/multi:1.0`, `oci:${join(world.dir, 'copied')}:multi`]);

    const again = await push({ sources: [bundlePath], registry: site.host });
    expect(again.blobs.uploaded).toBe(0);
    expect(again.bytesUploaded).toBe(0);
    expect(again.blobs.present).toBe(first.blobs.uploaded + first.blobs.present + first.blobs.mounted);
  });

  it('adds a path prefix; a blob already pushed to another repository in the run is mounted, not sent', async () => {
    const shared = join(world.dir, 'shared.tar.zst');
    await bundle({ images: [world.fx.sharedA.ref, world.fx.sharedB.ref], platforms: ['linux/amd64'], output: shared, layers: 'original', level: 3 });
    const res = await push({ sources: [shared], registry: `${site.host}/mirror/site` });
    expect(res.images.map((i) => i.target).sort()).toEqual([`${site.host}/mirror/site/library/shared-a:1`, `${site.host}/mirror/site/library/shared-b:1`]);
    expect(await digestOf(`${site.host}/mirror/site/library/shared-b:1`)).toBe(world.fx.sharedB.manifest.digest);
    // shared-a and shared-b share a layer: uploaded for the first, mounted for the second.
    expect(res.blobs.mounted).toBe(1);
  });

  it('streams a big blob in one PATCH; a source whose bytes are not their digest never closes an upload', async () => {
    const data = Buffer.alloc(5 * 1024 * 1024 + 123, 7);
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    const writer = new RegistryWriter(new RegistryClient(site.host), new Map(), { monolithicMax: 1024 * 1024 });
    const outcome = await writer.putBlob('chunked/blob', { mediaType: 'application/octet-stream', digest, size: data.length }, [{ name: 'memory', open: async () => ({ body: Readable.from([data.subarray(0, 3_000_000), data.subarray(3_000_000)]), resumed: false }) }]);
    expect(outcome).toBe('uploaded');
    const back = await runOk('sh', ['-c', `curl -sf '${site.url}/v2/chunked/blob/blobs/${digest}' | sha256sum`]);
    expect(back.stdout.split(' ')[0]).toBe(digest.slice(7));
    // A source whose bytes are not their digest never closes an upload.
    const wrong = `sha256:${'a'.repeat(64)}`;
    await expect(writer.putBlob('chunked/blob', { mediaType: 'application/octet-stream', digest: wrong, size: data.length }, [{ name: 'memory', open: async () => ({ body: Readable.from([data]), resumed: false }) }])).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    const head = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-I', `${site.url}/v2/chunked/blob/blobs/${wrong}`]);
    expect(head.stdout).toBe('404');
  });

  // A proxy in front of the real registry that breaks the second of three PATCH segments three ways: a fault the registry cannot make.
  it('goes on from where the registry is when a PATCH breaks: lost, cut half way, or answered and the answer lost', async () => {
    const data = Buffer.from(Array.from({ length: 6 * 1024 * 1024 + 77 }, (_, i) => (i * 2654435761) >>> 24));
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    let patches = 0;
    let posts = 0;
    // 'drop': read and thrown away (the registry keeps nothing of it); 'half': 1 MiB of it reaches the registry,
    // then the connection is cut; 'after': all of it reaches the registry, then the answer is cut.
    let mode: 'drop' | 'half' | 'after' = 'drop';
    const proxy = await startFaultProxy(site.url, (req) => {
      if (req.method === 'POST') posts++;
      if (req.method !== 'PATCH' || ++patches !== 2) return 'pass';
      return mode === 'drop' ? 'drop' : mode === 'half' ? { cutRequestAfter: 1024 * 1024 } : 'cut-answer';
    });
    try {
      for (const m of ['drop', 'half', 'after'] as const) {
        mode = m;
        patches = 0;
        posts = 0;
        const resumed: number[] = [];
        const sent: number[] = [];
        const writer = new RegistryWriter(new RegistryClient(proxy.host), new Map(), { monolithicMax: 1024 * 1024, segmentSize: 2 * 1024 * 1024, onResume: (_d, offset) => resumed.push(offset), onBytes: (n) => sent.push(n) });
        // In 256 KiB pieces, as a file is read.
        const pieces = (offset: number): Buffer[] => Array.from({ length: Math.ceil((data.length - offset) / 262144) }, (_, i) => data.subarray(offset + i * 262144, Math.min(data.length, offset + (i + 1) * 262144)));
        const source = { name: 'memory', open: async (offset: number) => ({ body: Readable.from(pieces(offset)), resumed: true }) };
        expect(await writer.putBlob(`resume/${m}`, { mediaType: 'application/octet-stream', digest, size: data.length }, [source])).toBe('uploaded');
        const back = await runOk('sh', ['-c', `curl -sf '${site.url}/v2/resume/${m}/blobs/${digest}' | sha256sum`]);
        expect(back.stdout.split(' ')[0]).toBe(digest.slice(7));
        // Gone on with from what the registry kept; progress counts each byte once.
        expect({ m, resumes: resumed.length }).toEqual({ m, resumes: 1 });
        const seg = 2 * 1024 * 1024;
        if (m === 'drop') expect({ posts, resumed }).toEqual({ posts: 1, resumed: [seg] });
        // docker-registry forgets an upload whose PATCH broke mid-body, and no longer knows the Location from
        // before a PATCH it took (its state is signed into the URL): a new upload from byte 0 then. A registry
        // that keeps what it got is gone on with from there.
        if (m === 'half') expect(posts === 2 ? resumed[0] === 0 : resumed[0]! >= seg && resumed[0]! <= seg + 1024 * 1024, `posts ${posts}, resumed at ${resumed[0]}`).toBe(true);
        if (m === 'after') expect(posts === 2 ? resumed[0] === 0 : resumed[0] === 2 * seg, `posts ${posts}, resumed at ${resumed[0]}`).toBe(true);
        expect(sent.reduce((a, b) => a + b, 0)).toBe(data.length);
      }
    } finally {
      await proxy.stop();
    }
  });

  it('--dry-run says what would go where and sends nothing; the CLI speaks JSON', async () => {
    const fresh = await startRegistry();
    try {
      const res = await run('node', [join(ROOT, 'bin/airpack.js'), 'push', bundlePath, '--registry', `${fresh.host}/x`, '--dry-run', '--json']);
      expect(res.code, res.stderr).toBe(0);
      const result = JSON.parse(res.stdout) as { dryRun: boolean; images: Array<{ target: string }> };
      expect(result.dryRun).toBe(true);
      expect(result.images.map((i) => i.target)).toContain(`${fresh.host}/x/library/single:latest`);
      expect(((await (await fetch(`${fresh.url}/v2/_catalog`)).json()) as { repositories: string[] }).repositories).toEqual([]);
      const bad = await run('node', [join(ROOT, 'bin/airpack.js'), 'push', bundlePath, '--registry', 'not a host']);
      expect(bad.code).toBe(2);
    } finally {
      await fresh.stop();
    }
  });

  it('keeps the source index when a bundle holds every child: pushed byte for byte, found by its original digest', async () => {
    // An OCI index airpack would never write itself (indented, annotated): only the source's bytes have its digest.
    const images = [
      makeImage({ os: 'linux', architecture: 'amd64', manifestMediaType: 'oci', layers: [await makeLayer({ 'etc/whole-amd64': seededText('whole-amd64', 3_000) })] }),
      makeImage({ os: 'linux', architecture: 'arm64', variant: 'v8', manifestMediaType: 'oci', layers: [await makeLayer({ 'etc/whole-arm64': seededText('whole-arm64', 3_000) })] }),
    ];
    for (const image of images) await pushImage(world.registry.url, 'library/whole', image);
    const indexBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: images.map(childDescriptor), annotations: { 'org.example.built-by': 'a release pipeline' } }, null, 3));
    const indexDigest = await pushManifest(world.registry.url, 'library/whole', '3.1', indexBytes, 'application/vnd.oci.image.index.v1+json');
    const whole = join(world.dir, 'whole.tar.zst');
    // whole and dockerlist: every child asked for. multi: arm/v7 and two attestations left out.
    await bundle({ images: [`${world.registry.host}/library/whole:3.1`, world.fx.dockerlist.ref, world.fx.multi.ref], platforms: ['linux/amd64', 'linux/arm64'], output: whole, layers: 'original', level: 3 });
    const target = await startRegistry();
    try {
      const res = await push({ sources: [whole], registry: target.host });
      const pushed = (name: string) => res.images.find((i) => i.name.endsWith(name))!;
      expect(pushed('/library/whole:3.1')).toMatchObject({ digest: indexDigest, mediaType: 'application/vnd.oci.image.index.v1+json' });
      expect(pushed('/library/whole:3.1').rebuilt).toBeUndefined();
      expect(pushed('/library/dockerlist:2.0')).toMatchObject({ digest: world.fx.dockerlist.index.digest, mediaType: 'application/vnd.docker.distribution.manifest.list.v2+json' });
      // By the original digest, and by tag: the source's bytes, unchanged.
      expect(await digestOf(`${target.host}/library/whole@${indexDigest}`)).toBe(indexDigest);
      expect(await inspectRaw(`${target.host}/library/whole@${indexDigest}`)).toBe(indexBytes.toString());
      expect(await inspectRaw(`${target.host}/library/whole:3.1`)).toBe(indexBytes.toString());
      expect(await inspectRaw(`${target.host}/library/dockerlist@${world.fx.dockerlist.index.digest}`)).toBe(world.fx.dockerlist.index.body.toString());
      // A node's pull through it: the arm64 child, by the original index digest.
      const arm64 = JSON.parse((await runOk('skopeo', ['inspect', '--tls-verify=false', '--override-arch', 'arm64', `docker://${target.host}/library/whole@${indexDigest}`])).stdout) as { Architecture: string; Layers: string[] };
      expect(arm64).toMatchObject({ Architecture: 'arm64', Layers: images[1]!.layers.map((l) => l.digest) });
      // An index with attestations (or platforms not asked for) is never every child: the bundle's own, over what it holds.
      expect(pushed('/library/multi:1.0').digest).not.toBe(world.fx.multi.index.digest);
      expect((JSON.parse(await inspectRaw(`${target.host}/library/multi:1.0`)) as { manifests: unknown[] }).manifests).toHaveLength(2);
    } finally {
      await target.stop();
    }
  });

  it('rebuilds a list over the platforms an archive holds when it holds part of its index, and says so', async () => {
    // ctr images export of hello-world for the host: its Docker list names 11 platforms, the file holds linux/amd64.
    const sparse = join(ROOT, '..', 'shared', 'interop', 'oras-hello-world.tar');
    const res = await run('node', [join(ROOT, 'bin/airpack.js'), 'push', sparse, '--registry', `${site.host}/sparse`, '--json']);
    expect(res.code, res.stderr).toBe(0);
    const [image] = (JSON.parse(res.stdout) as { images: Array<{ digest: string; mediaType: string; children: string[]; rebuilt?: { from: string; missing: string[] } }> }).images;
    expect(image!.rebuilt?.from).toBe('sha256:faa03e786c97f07ef34423fccceeec2398ec8a5759259f94d99078f264e9d7af');
    expect(image!.rebuilt?.missing).toHaveLength(10);
    expect(image!.mediaType).toBe('application/vnd.docker.distribution.manifest.list.v2+json');
    const ref = `${site.host}/sparse/library/hello-world:latest`;
    const raw = await inspectRaw(ref);
    expect(`sha256:${createHash('sha256').update(raw).digest('hex')}`).toBe(image!.digest);
    const list = JSON.parse(raw) as { mediaType: string; manifests: Array<{ digest: string; platform: { os: string; architecture: string } }> };
    expect(list.manifests).toEqual([expect.objectContaining({ digest: 'sha256:f54a58bc1aac5ea1a25d796ae155dc228b3f0e11d046ae276b39c4bf2f13d8c4', platform: { architecture: 'amd64', os: 'linux' } })]);
    // The one platform resolves through the rebuilt list, byte for byte.
    expect(await digestOf(ref, ['--override-arch', 'amd64'])).toBe(image!.digest);
    await runOk('skopeo', ['copy', '--quiet', '--src-tls-verify=false', '--override-arch', 'amd64', `docker://${ref}`, `dir:${join(world.dir, 'sparse-copy')}`]);
    const child = await readFile(join(world.dir, 'sparse-copy', 'manifest.json'));
    expect(`sha256:${createHash('sha256').update(child).digest('hex')}`).toBe(image!.children[0]);
  });

  it('authenticates against an htpasswd registry, and never prints the password', async () => {
    const password = 'pUsh-s3cret-Passw0rd';
    const locked = await startRegistry({ htpasswd: { username: 'pusher', password } });
    try {
      const auth = join(world.dir, 'auth.json');
      await writeFile(auth, JSON.stringify({ auths: { [locked.host]: { auth: Buffer.from(`pusher:${password}`).toString('base64') } } }));
      const res = await run('node', [join(ROOT, 'bin/airpack.js'), 'push', bundlePath, '--registry', locked.host, '--json'], { env: { ...process.env, REGISTRY_AUTH_FILE: auth, DOCKER_CONFIG: '/nonexistent' } });
      expect(res.code, res.stderr).toBe(0);
      for (const out of [res.stdout, res.stderr]) {
        expect(out).not.toContain(password);
        expect(out).not.toContain(Buffer.from(`pusher:${password}`).toString('base64'));
      }
      const anonymous = await run('node', [join(ROOT, 'bin/airpack.js'), 'push', bundlePath, '--registry', locked.host], { env: { ...process.env, DOCKER_CONFIG: '/nonexistent', REGISTRY_AUTH_FILE: '/nonexistent' } });
      expect(anonymous.code).toBe(3);
    } finally {
      await locked.stop();
    }
  });
});

describe('push through a faulty registry', () => {
  // Several breaks per blob in one run of the CLI: uploads cut half way (a reset) twice per blob; every
  // HEAD and POST answered 500, 503 and 502 before it goes through, every PATCH and closing PUT 500 once.
  // The push must complete, and skopeo reads every blob back against its digest.
  it('an upload cut twice per blob and 5xx bursts on every upload request: airpack push completes, and the image reads back whole', async () => {
    const site = await startRegistry();
    const big = join(world.dir, 'big-two.tar');
    // Two layers of 12 and 13 MiB pushed as they are: above the one-PUT limit, so each goes up in PATCH segments
    // (told apart by their lengths: a PATCH names no digest).
    const layers = await bigArchive(big, [12 * 1024 * 1024, 13 * 1024 * 1024], 2, 'example.com/faulty:1');
    const cuts = new Map<string, number>();
    const bursts = new Map<string, number>();
    let cut = 0;
    let burst = 0;
    const proxy = await startFaultProxy(site.url, (req) => {
      if (!/\/blobs\//.test(req.url ?? '') || req.method === 'GET') return 'pass';
      if (req.method === 'PATCH') {
        const digest = String(req.headers['content-length']);
        const n = cuts.get(digest) ?? 0;
        cuts.set(digest, n + 1);
        if (n < 2) {
          cut++;
          return { cutRequestAfter: 3 * 1024 * 1024 };
        }
      }
      // One count per blob: a PATCH by its length, a closing PUT by its digest.
      const url = new URL(req.url ?? '', 'http://x');
      const key = req.method === 'PATCH' ? `PATCH ${req.headers['content-length']}` : req.method === 'PUT' ? `PUT ${url.searchParams.get('digest')}` : `${req.method} ${url.pathname}`;
      const n = bursts.get(key) ?? 0;
      bursts.set(key, n + 1);
      // POST and HEAD are retried as they are; a PATCH or the closing PUT is resumed from the upload's status.
      if (n >= (req.method === 'PATCH' || req.method === 'PUT' ? 1 : 3)) return 'pass';
      burst++;
      return { status: [500, 503, 502][n]!, body: '' };
    });
    try {
      const res = await run('node', [join(ROOT, 'bin/airpack.js'), 'push', big, '--registry', proxy.host, '--layer-compression', 'none', '--json']);
      expect(res.code, res.stderr).toBe(0);
      expect(cut, 'uploads cut').toBeGreaterThanOrEqual(4);
      expect(burst, '5xx answers').toBeGreaterThanOrEqual(6);
      const copied = join(world.dir, 'faulty-copy');
      await runOk('skopeo', ['copy', '-q', '--src-tls-verify=false', `docker://${site.host}/faulty:1`, `dir:${copied}`]);
      const manifest = JSON.parse(await readFile(join(copied, 'manifest.json'), 'utf8')) as { layers: Array<{ digest: string }> };
      expect(manifest.layers.map((l) => l.digest)).toEqual(layers);
    } finally {
      await proxy.stop();
      await site.stop();
    }
  }, 120_000);
});

describe('push with token auth', () => {
  // Harbor's and ECR's tokens last minutes; here one second, so a push outlives several.
  it('renews a token that expires in the middle of a push and of a pull, and both complete', async () => {
    const { startTokenServer } = await import('./support/token-server.js');
    const tokens = await startTokenServer({ users: { pusher: 'tok3n-pass' }, service: 'airpack-test-registry' });
    const locked = await startRegistry({ token: tokens });
    // docker-registry takes a token for a minute past its `exp` (clock-skew leeway), so the expiry is played by
    // a proxy: a token used for more than a few blob requests gets what an expired one gets, 401 with a Bearer
    // challenge, and the request never reaches the registry (a PATCH's body is thrown away).
    const uses = new Map<string, number>();
    let expired = 0;
    const proxy = await startFaultProxy(locked.url, (req) => {
      const token = req.headers.authorization;
      const repo = /^\/v2\/(.+)\/blobs\//.exec(req.url ?? '')?.[1];
      if (!token?.startsWith('Bearer ') || !repo) return 'pass';
      const n = (uses.get(token) ?? 0) + 1;
      uses.set(token, n);
      if (n <= 3) return 'pass';
      expired++;
      const scope = `repository:${repo}:${req.method === 'GET' || req.method === 'HEAD' ? 'pull' : 'pull,push'}`;
      return { status: 401, headers: { 'content-type': 'application/json', 'www-authenticate': `Bearer realm="${tokens.realm}",service="airpack-test-registry",scope="${scope}",error="invalid_token"` }, body: '{"errors":[{"code":"UNAUTHORIZED","message":"token expired"}]}' };
    });
    try {
      const auth = join(world.dir, 'token-auth.json');
      await writeFile(auth, JSON.stringify({ auths: { [proxy.host]: { auth: Buffer.from('pusher:tok3n-pass').toString('base64') } } }));
      const env = { ...process.env, REGISTRY_AUTH_FILE: auth, DOCKER_CONFIG: '/nonexistent' };
      const res = await run('node', [join(ROOT, 'bin/airpack.js'), 'push', bundlePath, '--registry', proxy.host, '--concurrency', '1', '--json'], { env });
      expect(res.code, res.stderr).toBe(0);
      expect(expired, '401s for an expired token during the push').toBeGreaterThan(0);
      expect(await digestOf(`${locked.host}/library/single:latest`, ['--creds', 'pusher:tok3n-pass'])).toBe(world.fx.single.manifest.digest);

      const before = expired;
      const out = join(world.dir, 'token-pull.tar');
      const pulled = await run('node', [join(ROOT, 'bin/airpack.js'), 'pull', `${proxy.host}/library/multi:1.0`, '-p', 'linux/amd64', '-p', 'linux/arm64', '--concurrency', '1', '-o', out], { env });
      expect(pulled.code, pulled.stderr).toBe(0);
      expect(expired - before, '401s for an expired token during the pull').toBeGreaterThan(0);
      expect((await run('node', [join(ROOT, 'bin/airpack.js'), 'verify', out])).code).toBe(0);
    } finally {
      await proxy.stop();
      await locked.stop();
      await tokens.stop();
    }
  }, 120_000);
});

describe('push safety', () => {
  // In-process fakes: a registry that sends the upload to another host, which no real registry here does.
  it('never sends credentials to another origin named by an upload Location', async () => {
    const http = await import('node:http');
    const seen: Array<string | undefined> = [];
    const other = http.createServer((req, res) => {
      seen.push(req.headers.authorization);
      req.resume();
      res.writeHead(201).end();
    });
    await new Promise<void>((r) => other.listen(0, '127.0.0.2', () => r()));
    const otherPort = (other.address() as { port: number }).port;
    const registry = http.createServer((req, res) => {
      req.resume();
      if (!req.headers.authorization) return void res.writeHead(401, { 'www-authenticate': 'Basic realm="fake"' }).end();
      if (req.method === 'HEAD') return void res.writeHead(404).end();
      if (req.method === 'POST') return void res.writeHead(202, { location: `http://127.0.0.2:${otherPort}/upload?state=x` }).end();
      res.writeHead(500).end();
    });
    await new Promise<void>((r) => registry.listen(0, '127.0.0.1', () => r()));
    const host = `127.0.0.1:${(registry.address() as { port: number }).port}`;
    try {
      const client = new RegistryClient(host, { credentials: async () => ({ username: 'bob', password: 'hunter2' }) });
      const data = Buffer.from('a small blob');
      const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
      const writer = new RegistryWriter(client);
      await writer.putBlob('x/y', { mediaType: 'application/octet-stream', digest, size: data.length }, [{ name: 'memory', open: async () => ({ body: Readable.from([data]), resumed: false }) }]);
      expect(seen).toHaveLength(1);
      expect(seen[0]).toBeUndefined();
    } finally {
      registry.close();
      other.close();
    }
  });

  it('refuses credentials or a scheme in --registry', async () => {
    for (const registry of ['bob:hunter2@localhost:5999/mirror', 'https://localhost:5999']) {
      const res = await run('node', [join(ROOT, 'bin/airpack.js'), 'push', bundlePath, '--registry', registry, '--dry-run']);
      expect(res.code).toBe(2);
      expect(res.stdout + res.stderr).not.toContain('hunter2');
    }
  });
});
