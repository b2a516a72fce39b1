/**
 * A registry that serves hostile documents: manifests of the wrong shape,
 * sizes that lie, digests of another algorithm, a child that names the
 * index itself, absurd sizes, a manifest too big to be one. A real registry
 * checks what it is given on push, so it cannot play these; an in-process
 * fake on 127.0.0.1 does. `pull` and `bundle` (the CLI, as a child process)
 * must refuse each with exit 4 and a message naming the fault, write
 * nothing, and leave nothing in TMPDIR.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, removeDir, run } from './support/util.js';

const ROOT = join(__dirname, '..');
const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

/** One small valid image: a plain-tar layer (digest = diff_id), its config, its manifest. */
function validImage() {
  const layer = Buffer.alloc(2048); // two zero blocks: an empty tar
  const config = json({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(layer)] } });
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer), size: layer.length }] as Array<Record<string, unknown> | null>,
  };
  return { layer, config, manifest };
}

interface Served {
  body: Buffer;
  contentType?: string;
  /** A Content-Length other than the body's (the body is cut or the header lies). */
  length?: number;
}

/** repository -> reference (tag or digest) or blob digest -> what is served. */
const routes = new Map<string, Served>();
let server: Server;
let host: string;
let dir: string;
let scratch: string;

function serveImage(repo: string, manifest: unknown, extra: Record<string, Served> = {}): void {
  const { layer, config } = validImage();
  const bytes = json(manifest);
  routes.set(`${repo}/manifests/1`, { body: bytes, contentType: OCI_MANIFEST });
  routes.set(`${repo}/manifests/${sha(bytes)}`, { body: bytes, contentType: OCI_MANIFEST });
  routes.set(`${repo}/blobs/${sha(layer)}`, { body: layer });
  routes.set(`${repo}/blobs/${sha(config)}`, { body: config });
  for (const [k, v] of Object.entries(extra)) routes.set(`${repo}/${k}`, v);
}

/** An index over `children` (manifest documents), each child served by its digest. */
function serveIndex(repo: string, index: (children: Array<{ digest: string; size: number }>) => unknown, children: unknown[], extra: Record<string, Served> = {}): void {
  const docs = children.map((c) => json(c));
  const { layer, config } = validImage();
  for (const d of docs) routes.set(`${repo}/manifests/${sha(d)}`, { body: d, contentType: OCI_MANIFEST });
  routes.set(`${repo}/blobs/${sha(layer)}`, { body: layer });
  routes.set(`${repo}/blobs/${sha(config)}`, { body: config });
  const top = json(index(docs.map((d) => ({ digest: sha(d), size: d.length }))));
  routes.set(`${repo}/manifests/1`, { body: top, contentType: OCI_INDEX });
  for (const [k, v] of Object.entries(extra)) routes.set(`${repo}/${k}`, v);
}

beforeAll(async () => {
  dir = await makeTempDir('hostile-registry');
  scratch = join(dir, 'tmp');
  await run('mkdir', ['-p', scratch]);
  server = createServer((req, res) => {
    const path = (req.url ?? '').replace(/^\/v2\/?/, '');
    if (path === '') return res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    const served = routes.get(path);
    if (!served) return res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'unknown' }] }));
    res.writeHead(200, { 'content-type': served.contentType ?? 'application/octet-stream', 'content-length': String(served.length ?? served.body.length), 'docker-content-digest': sha(served.body) });
    if (req.method === 'HEAD') return res.end();
    // A Content-Length beyond the body: send the body, then cut the connection.
    if (served.length !== undefined && served.length > served.body.length) {
      res.write(served.body);
      return void setTimeout(() => res.destroy(), 20);
    }
    res.end(served.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;

  const good = validImage();
  serveImage('good', good.manifest);

  // Manifests of the wrong shape.
  serveImage('layer-null', { ...good.manifest, layers: [null] });
  serveImage('urls-string', { ...good.manifest, layers: [{ ...good.manifest.layers[0], urls: 'http://example.com/x' }] });
  serveImage('size-negative', { ...good.manifest, layers: [{ ...good.manifest.layers[0], size: -1 }] });
  serveImage('size-float', { ...good.manifest, layers: [{ ...good.manifest.layers[0], size: 1e308 }] });
  serveImage('size-string', { ...good.manifest, layers: [{ ...good.manifest.layers[0], size: '2048' }] });
  serveImage('layer-sha512', { ...good.manifest, layers: [{ ...good.manifest.layers[0], digest: `sha512:${'ab'.repeat(64)}` }] });
  // A layer the manifest calls 2^52 bytes, which the registry ends at 2 KiB.
  serveImage('size-absurd', { ...good.manifest, layers: [{ ...good.manifest.layers[0], size: 2 ** 52 }] });
  // A layer of the right length whose bytes are not its digest.
  serveImage('blob-wrong', good.manifest, { [`blobs/${sha(good.layer)}`]: { body: Buffer.alloc(good.layer.length, 1) } });
  // A layer whose Content-Length says less than the manifest.
  serveImage('blob-short', good.manifest, { [`blobs/${sha(good.layer)}`]: { body: good.layer.subarray(0, 1000) } });
  // A manifest of 5 MiB: no manifest is that big (registries cap them at 4 MiB).
  serveImage('huge', { ...good.manifest, annotations: { pad: 'x'.repeat(5 * 1024 * 1024) } });

  // Indexes of the wrong shape.
  const platform = { os: 'linux', architecture: 'amd64' };
  serveIndex('index-null-entry', () => ({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [null] }), []);
  serveIndex('index-object', () => ({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: {} }), []);
  serveIndex('index-platform-string', (c) => ({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, ...c[0], platform: 'linux/amd64' }] }), [good.manifest]);
  // A child named by another algorithm: its bytes could not be checked, so the registry could send anything.
  serveIndex('index-sha512', () => ({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: `sha512:${'cd'.repeat(64)}`, size: 100, platform }] }), [], {
    [`manifests/sha512:${'cd'.repeat(64)}`]: { body: json({ ...good.manifest, annotations: { evil: 'yes' } }), contentType: OCI_MANIFEST },
  });
  // A child whose size in the index lies.
  serveIndex('index-size-lie', (c) => ({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest: c[0]!.digest, size: 7, platform }] }), [good.manifest]);
  // A loop: the child's digest is served the index itself (content addressing makes a true loop impossible; this is the try).
  const loopChild = `sha256:${'ef'.repeat(32)}`;
  serveIndex('index-loop', () => ({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_INDEX, digest: loopChild, size: 10, platform }, { mediaType: OCI_MANIFEST, digest: loopChild, size: 10, platform: { os: 'linux', architecture: 'arm64' } }] }), []);
  routes.set(`index-loop/manifests/${loopChild}`, routes.get('index-loop/manifests/1')!);
}, 60_000);

afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  await removeDir(dir);
});

async function airpack(args: string[]) {
  return run('node', [join(ROOT, 'bin/airpack.js'), ...args], { env: { ...process.env, TMPDIR: scratch } });
}

describe('a registry serving hostile documents', () => {
  it('a good image pulls: the fake registry itself is sound', async () => {
    const out = join(dir, 'good.tar');
    const res = await airpack(['pull', `${host}/good:1`, '-o', out]);
    expect(res.code, res.stderr).toBe(0);
    expect(existsSync(out)).toBe(true);
  });

  const cases: Array<[string, string, RegExp]> = [
    ['layer-null', 'a null layer', /layers\[0\] expected \{mediaType, digest: sha256:<hex>, size/],
    ['urls-string', 'urls that is no list', /layers\[0\] urls expected a list of strings/],
    ['size-negative', 'a negative size', /layers\[0\] expected .*"size":-1/],
    ['size-float', 'a size of 1e308', /layers\[0\] expected .*size: a whole number of bytes/],
    ['size-string', 'a size that is a string', /layers\[0\] expected .*"size":"2048"/],
    ['layer-sha512', 'a layer digest of another algorithm', /layers\[0\] expected \{mediaType, digest: sha256:<hex>/],
    ['size-absurd', 'a layer of 2^52 bytes that the registry ends at 2 KiB', /the registry sends 2048 bytes \[expected 4503599627370496\]/],
    ['blob-short', 'a blob shorter than its manifest says', /the registry sends 1000 bytes \[expected 2048\]/],
    ['blob-wrong', 'a blob whose bytes are not its digest', /layer sha256:[0-9a-f]{64} .*digest sha256:[0-9a-f]{64} \[expected sha256:/],
    ['huge', 'a manifest of 5 MiB', /response larger than 4194304 bytes/],
    ['index-null-entry', 'an index entry that is null', /manifests\[0\] expected \{mediaType, digest: sha256:<hex>/],
    ['index-object', 'manifests that is no list', /expected an image index with a "manifests" list/],
    ['index-platform-string', 'a platform that is a string', /manifests\[0\] platform expected \{os, architecture\} strings/],
    ['index-sha512', 'a child named by sha512', /manifests\[0\] expected \{mediaType, digest: sha256:<hex>/],
    ['index-size-lie', 'a child whose size in the index lies', /is \d+ bytes \[the index says 7\]/],
    ['index-loop', 'a child whose digest is served the index itself', /digest sha256:[0-9a-f]{64} \[expected sha256:(ef){32}\]/],
  ];

  for (const [repo, what, message] of cases) {
    it(`refuses ${what} (exit 4), writes nothing, leaves nothing`, async () => {
      for (const [command, out] of [['pull', join(dir, `${repo}.tar`)], ['bundle', join(dir, `${repo}.tar.zst`)]] as const) {
        const platform = repo === 'index-loop' ? ['-p', 'linux/arm64'] : [];
        const res = await airpack([command, `${host}/${repo}:1`, ...platform, '-o', out]);
        expect({ command, code: res.code, stderr: res.stderr }).toMatchObject({ command, code: 4 });
        expect(res.stderr).toMatch(message);
        expect(res.stderr).not.toMatch(/internal error|TypeError|    at /);
        expect(existsSync(out)).toBe(false);
        expect(readdirSync(dir).filter((n) => n.startsWith('.'))).toEqual([]);
        expect(readdirSync(scratch)).toEqual([]);
      }
    });
  }

  it('a nested index is refused as not supported (exit 3), naming it', async () => {
    const res = await airpack(['pull', `${host}/index-loop:1`, '-o', join(dir, 'nested.tar')]);
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(/nested index sha256:(ef){32} for linux\/amd64 is not supported/);
  });
});
