/**
 * Deterministic test images, built here and pushed over the registry HTTP API
 * with plain fetch. Nothing in this file uses src/: the code under test must
 * not set up its own fixtures.
 *
 * Same seed -> same bytes -> same digests, on every run and machine: tar
 * entries have mtime 0, uid/gid 0 and fixed modes, gzip headers carry no time,
 * and JSON is written with a fixed key order and no timestamps but the epoch.
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { MediaType } from '../../src/spec/media-types.js';
import type { RegistryHandle } from './registry.js';

// ---------------------------------------------------------------------------
// Bytes, digests, layers

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Deterministic pseudo-random bytes: sha256(seed:counter) blocks, concatenated. */
export function seededBytes(seed: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let off = 0, n = 0; off < size; off += 32, n++) {
    createHash('sha256').update(`${seed}:${n}`).digest().copy(out, off);
  }
  return out;
}

/**
 * Deterministic text (repeated seeded words): compresses well, unlike
 * seededBytes, so layers get a realistic mix of gzip ratios.
 */
export function seededText(seed: string, size: number): Buffer {
  const words = seededBytes(seed, 64).toString('hex').match(/.{1,8}/g) ?? [];
  let s = '';
  for (let i = 0; s.length < size; i++) s += `${words[i % words.length]}${i % 12 === 11 ? '\n' : ' '}`;
  return Buffer.from(s.slice(0, size));
}

export interface Layer {
  /** The uncompressed layer tar. */
  tar: Buffer;
  /** What the registry stores: gzip(tar), or tar itself when not compressed. */
  blob: Buffer;
  /** sha256 of tar (goes into the config's rootfs.diff_ids). */
  diffId: string;
  /** sha256 of blob. */
  digest: string;
  /** blob.length */
  size: number;
  compressed: boolean;
}

/**
 * A real, reproducible layer tar. Parent directories are added as entries of
 * their own (as `docker build` layers have them) so unpackers need not invent
 * them; entries are sorted by path.
 */
export async function makeLayer(files: Record<string, Buffer>, opts: { gzip?: boolean } = {}): Promise<Layer> {
  const dirs = new Set<string>();
  for (const name of Object.keys(files)) {
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(`${parts.slice(0, i).join('/')}/`);
  }
  const entries = [...dirs, ...Object.keys(files)].sort();
  const pack = tar.pack();
  const fixed = { mtime: new Date(0), uid: 0, gid: 0, uname: '', gname: '' };
  for (const name of entries) {
    const data = files[name];
    if (data === undefined) pack.entry({ ...fixed, name, type: 'directory', mode: 0o755 });
    else pack.entry({ ...fixed, name, type: 'file', mode: 0o644, size: data.length }, data);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  const tarBuf = Buffer.concat(chunks);
  const compressed = opts.gzip ?? true;
  // Node writes a gzip header with mtime 0 and a fixed OS byte: reproducible.
  const blob = compressed ? gzipSync(tarBuf, { level: 6 }) : tarBuf;
  return { tar: tarBuf, blob, diffId: sha256(tarBuf), digest: sha256(blob), size: blob.length, compressed };
}

// ---------------------------------------------------------------------------
// Manifests, configs, indexes

export interface Platform {
  architecture: string;
  os: string;
  'os.version'?: string;
  'os.features'?: string[];
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
}

export interface ImageLayer extends Descriptor {
  /** True for a foreign / non-distributable layer: its blob is NOT in the registry. */
  foreign: boolean;
  diffId: string;
  blob: Buffer;
  tar: Buffer;
}

export interface Blob {
  mediaType: string;
  digest: string;
  size: number;
  body: Buffer;
}

export interface BuiltImage {
  platform: Platform;
  /** Layers in manifest order: foreign layers first, then the normal ones. */
  layers: ImageLayer[];
  config: Blob;
  manifest: Blob;
}

export interface MakeImageOptions {
  os: string;
  architecture: string;
  variant?: string;
  osVersion?: string;
  osFeatures?: string[];
  layers: Layer[];
  /** Base layers whose bytes live at `urls` (Windows); they come before `layers`. */
  foreignLayers?: Array<{ layer: Layer; urls: string[] }>;
  manifestMediaType: 'oci' | 'docker';
  /** Extra config labels, e.g. to make otherwise identical images differ. */
  labels?: Record<string, string>;
}

/** Build an image config and manifest (nothing is pushed). */
export function makeImage(opts: MakeImageOptions): BuiltImage {
  const oci = opts.manifestMediaType === 'oci';
  const platform: Platform = {
    architecture: opts.architecture,
    os: opts.os,
    ...(opts.osVersion !== undefined ? { 'os.version': opts.osVersion } : {}),
    ...(opts.osFeatures !== undefined ? { 'os.features': opts.osFeatures } : {}),
    ...(opts.variant !== undefined ? { variant: opts.variant } : {}),
  };
  const layerType = (l: Layer): string =>
    oci ? (l.compressed ? MediaType.ociLayerGzip : MediaType.ociLayer) : l.compressed ? MediaType.dockerLayerGzip : MediaType.dockerLayer;
  const foreignType = oci ? MediaType.ociLayerNondistributableGzip : MediaType.dockerForeignLayerGzip;

  const layers: ImageLayer[] = [
    ...(opts.foreignLayers ?? []).map(({ layer, urls }) => ({
      mediaType: foreignType,
      digest: layer.digest,
      size: layer.size,
      urls,
      foreign: true,
      diffId: layer.diffId,
      blob: layer.blob,
      tar: layer.tar,
    })),
    ...opts.layers.map((layer) => ({
      mediaType: layerType(layer),
      digest: layer.digest,
      size: layer.size,
      foreign: false,
      diffId: layer.diffId,
      blob: layer.blob,
      tar: layer.tar,
    })),
  ];

  const windows = opts.os === 'windows';
  const configJson = {
    architecture: opts.architecture,
    config: {
      ...(windows ? {} : { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] }),
      Cmd: windows ? ['c:\\windows\\system32\\cmd.exe'] : ['/bin/sh'],
      Labels: { 'org.airpack.test': 'fixture', ...opts.labels },
    },
    created: '1970-01-01T00:00:00Z',
    os: opts.os,
    ...(opts.osVersion !== undefined ? { 'os.version': opts.osVersion } : {}),
    ...(opts.osFeatures !== undefined ? { 'os.features': opts.osFeatures } : {}),
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    ...(opts.variant !== undefined ? { variant: opts.variant } : {}),
  };
  const config = blobOf(oci ? MediaType.ociConfig : MediaType.dockerConfig, JSON.stringify(configJson));

  const manifestJson = {
    schemaVersion: 2,
    mediaType: oci ? MediaType.ociManifest : MediaType.dockerManifest,
    config: { mediaType: config.mediaType, size: config.size, digest: config.digest },
    layers: layers.map((l) => ({
      mediaType: l.mediaType,
      size: l.size,
      digest: l.digest,
      ...(l.urls ? { urls: l.urls } : {}),
    })),
  };
  const manifest = blobOf(manifestJson.mediaType, JSON.stringify(manifestJson));
  return { platform, layers, config, manifest };
}

/** An OCI index or Docker manifest list over the given child descriptors. */
export function makeIndex(kind: 'oci' | 'docker', manifests: Descriptor[]): Blob {
  const mediaType = kind === 'oci' ? MediaType.ociIndex : MediaType.dockerManifestList;
  return blobOf(mediaType, JSON.stringify({ schemaVersion: 2, mediaType, manifests }));
}

export function blobOf(mediaType: string, body: string | Buffer): Blob {
  const buf = Buffer.from(body);
  return { mediaType, digest: sha256(buf), size: buf.length, body: buf };
}

export const InToto = {
  layerMediaType: 'application/vnd.in-toto+json',
  predicateTypeAnnotation: 'in-toto.io/predicate-type',
  spdx: 'https://spdx.dev/Document',
  slsaProvenance: 'https://slsa.dev/provenance/v0.2',
} as const;

/** Index annotations buildx puts on an attestation manifest's descriptor. */
export const AttestationAnnotation = {
  referenceType: 'vnd.docker.reference.type',
  referenceDigest: 'vnd.docker.reference.digest',
  attestationManifest: 'attestation-manifest',
} as const;

export interface BuiltAttestation {
  /** Digest of the image manifest it describes. */
  refersTo: string;
  config: Blob;
  layers: Blob[];
  manifest: Blob;
  /** Its entry for the index: platform unknown/unknown plus the buildx annotations. */
  descriptor: Descriptor;
}

/** A buildx-style attestation manifest (SBOM + provenance in-toto layers) for `image`. */
export function makeAttestation(image: BuiltImage, seed: string): BuiltAttestation {
  const statement = (predicateType: string, predicate: object): Blob =>
    blobOf(
      InToto.layerMediaType,
      JSON.stringify({
        _type: 'https://in-toto.io/Statement/v0.1',
        predicateType,
        subject: [{ name: 'pkg:docker/fixture', digest: { sha256: image.manifest.digest.slice('sha256:'.length) } }],
        predicate,
      }),
    );
  const layers = [
    statement(InToto.spdx, { spdxVersion: 'SPDX-2.3', name: seed }),
    statement(InToto.slsaProvenance, { builder: { id: seed } }),
  ];
  const config = blobOf(
    MediaType.ociConfig,
    JSON.stringify({
      architecture: 'unknown',
      os: 'unknown',
      config: {},
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
    }),
  );
  const manifest = blobOf(
    MediaType.ociManifest,
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.ociManifest,
      config: { mediaType: config.mediaType, digest: config.digest, size: config.size },
      layers: layers.map((l, i) => ({
        mediaType: l.mediaType,
        digest: l.digest,
        size: l.size,
        annotations: { [InToto.predicateTypeAnnotation]: i === 0 ? InToto.spdx : InToto.slsaProvenance },
      })),
    }),
  );
  return {
    refersTo: image.manifest.digest,
    config,
    layers,
    manifest,
    descriptor: {
      mediaType: manifest.mediaType,
      digest: manifest.digest,
      size: manifest.size,
      annotations: {
        [AttestationAnnotation.referenceDigest]: image.manifest.digest,
        [AttestationAnnotation.referenceType]: AttestationAnnotation.attestationManifest,
      },
      platform: { architecture: 'unknown', os: 'unknown' },
    },
  };
}

/** The descriptor of an image's manifest, with its platform, for an index. */
export function childDescriptor(image: BuiltImage): Descriptor {
  return { mediaType: image.manifest.mediaType, digest: image.manifest.digest, size: image.manifest.size, platform: image.platform };
}

// ---------------------------------------------------------------------------
// Registry HTTP API (push side), with optional Basic or Bearer token auth

export interface Auth {
  username: string;
  password: string;
}

/**
 * fetch() against a registry, answering one 401 challenge: Basic with `auth`,
 * or Bearer by fetching a token from the challenge's realm (with `auth` as
 * Basic credentials when given, anonymously otherwise). `scope` is what we
 * ask the token server for; the challenge's own scope is used when present.
 * No token caching: every call does the whole dance, which keeps it obvious.
 */
export async function registryFetch(url: string, init: RequestInit, opts: { auth?: Auth; scope?: string } = {}): Promise<Response> {
  const res = await fetch(url, init);
  if (res.status !== 401) return res;
  const challenge = parseChallenge(res.headers.get('www-authenticate') ?? '');
  let authorization: string | undefined;
  if (challenge?.scheme === 'basic' && opts.auth) {
    authorization = basicHeader(opts.auth);
  } else if (challenge?.scheme === 'bearer' && challenge.params.realm) {
    const tokenUrl = new URL(challenge.params.realm);
    if (challenge.params.service) tokenUrl.searchParams.set('service', challenge.params.service);
    const scope = challenge.params.scope ?? opts.scope;
    if (scope) for (const s of scope.split(' ')) tokenUrl.searchParams.append('scope', s);
    const tokenRes = await fetch(tokenUrl, opts.auth ? { headers: { Authorization: basicHeader(opts.auth) } } : {});
    if (!tokenRes.ok) {
      await res.arrayBuffer();
      throw new Error(`token request ${tokenUrl} failed: ${tokenRes.status} ${await tokenRes.text()}`);
    }
    const body = (await tokenRes.json()) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (token) authorization = `Bearer ${token}`;
  }
  if (!authorization) return res;
  await res.arrayBuffer();
  const headers = new Headers(init.headers);
  headers.set('Authorization', authorization);
  return fetch(url, { ...init, headers });
}

export function basicHeader(auth: Auth): string {
  return `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
}

/** `Bearer realm="...",service="...",scope="..."` -> scheme + params. */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } | undefined {
  const m = /^(\w+)\s*(.*)$/s.exec(header.trim());
  if (!m?.[1]) return undefined;
  const params: Record<string, string> = {};
  for (const p of (m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)) {
    if (p[1] !== undefined && p[2] !== undefined) params[p[1]] = p[2];
  }
  return { scheme: m[1].toLowerCase(), params };
}

const pushScope = (repo: string): string => `repository:${repo}:pull,push`;

async function expectStatus(res: Response, want: number[], what: string): Promise<void> {
  if (!want.includes(res.status)) {
    throw new Error(`${what}: HTTP ${res.status} ${await res.text()}`);
  }
}

/**
 * Push one blob: HEAD (skip if present), then POST an upload session and PUT
 * the whole body with ?digest= (the "monolithic" upload every registry takes).
 */
export async function pushBlob(registryUrl: string, repo: string, data: Buffer, auth?: Auth): Promise<{ digest: string; size: number }> {
  const digest = sha256(data);
  const opts = { scope: pushScope(repo), ...(auth ? { auth } : {}) };
  const head = await registryFetch(`${registryUrl}/v2/${repo}/blobs/${digest}`, { method: 'HEAD' }, opts);
  if (head.status === 200) return { digest, size: data.length };

  const start = await registryFetch(`${registryUrl}/v2/${repo}/blobs/uploads/`, { method: 'POST' }, opts);
  await expectStatus(start, [202], `start upload to ${repo}`);
  await start.arrayBuffer();
  const location = new URL(start.headers.get('location') ?? '', registryUrl);
  location.searchParams.set('digest', digest);
  const put = await registryFetch(
    location.toString(),
    { method: 'PUT', body: data, headers: { 'Content-Type': 'application/octet-stream' } },
    opts,
  );
  await expectStatus(put, [201], `upload ${digest} to ${repo}`);
  await put.arrayBuffer();
  return { digest, size: data.length };
}

/** PUT a manifest (or index) by tag or digest; returns the digest the registry reports. */
export async function pushManifest(
  registryUrl: string,
  repo: string,
  reference: string,
  body: Buffer,
  mediaType: string,
  auth?: Auth,
): Promise<string> {
  const res = await registryFetch(
    `${registryUrl}/v2/${repo}/manifests/${reference}`,
    { method: 'PUT', body, headers: { 'Content-Type': mediaType } },
    { scope: pushScope(repo), ...(auth ? { auth } : {}) },
  );
  await expectStatus(res, [201], `push manifest ${repo}:${reference}`);
  await res.arrayBuffer();
  const digest = res.headers.get('docker-content-digest') ?? sha256(body);
  if (digest !== sha256(body)) throw new Error(`registry digest ${digest} != computed ${sha256(body)} for ${repo}:${reference}`);
  return digest;
}

/**
 * Push an image's config, its registry-held layers and its manifest (by
 * `reference`, or by digest when omitted). Foreign layers are skipped: their
 * bytes belong on the blob server.
 */
export async function pushImage(registryUrl: string, repo: string, image: BuiltImage, reference?: string, auth?: Auth): Promise<string> {
  for (const layer of image.layers) if (!layer.foreign) await pushBlob(registryUrl, repo, layer.blob, auth);
  await pushBlob(registryUrl, repo, image.config.body, auth);
  return pushManifest(registryUrl, repo, reference ?? image.manifest.digest, image.manifest.body, image.manifest.mediaType, auth);
}

// ---------------------------------------------------------------------------
// The standard fixture set

/** Anything with put(path, bytes) and a base URL: the blob server for foreign layers. */
export interface ForeignBlobSink {
  url: string;
  put(path: string, data: Buffer): void;
}

export interface ImageFixture extends BuiltImage {
  repo: string;
  /** Tag it was pushed under, for stand-alone images. */
  tag?: string;
  /** "127.0.0.1:PORT/repo:tag" for stand-alone images, "...@sha256:..." for index children. */
  ref: string;
  /** Convenience: platform['os.version'] */
  osVersion?: string;
}

export interface IndexFixture {
  repo: string;
  tag: string;
  /** "127.0.0.1:PORT/repo:tag" */
  ref: string;
  index: Blob;
  /** Image children in index order (attestations excluded). */
  images: ImageFixture[];
  /** Image children by "os/arch[/variant][:os.version]", e.g. "linux/arm/v7", "windows/amd64:10.0.20348.2227". */
  byPlatform: Record<string, ImageFixture>;
  attestations: BuiltAttestation[];
}

export interface StandardFixtures {
  host: string;
  /** library/multi:1.0: OCI index, linux/amd64 + linux/arm64/v8 + linux/arm/v7 + 2 attestations. */
  multi: IndexFixture;
  /** library/dockerlist:2.0: Docker manifest list, linux/amd64 + linux/arm64 (no variant). */
  dockerlist: IndexFixture;
  /** windows/servercore:ltsc: Docker manifest list, linux/amd64 + 4 windows/amd64 with foreign base layers. */
  windows: IndexFixture & {
    linux: ImageFixture;
    /** Windows children by full os.version. */
    byOsVersion: Record<string, ImageFixture>;
    /** Path on the blob server for each foreign layer digest. */
    foreignPaths: Record<string, string>;
  };
  /** library/single:latest: one OCI manifest, linux/amd64. */
  single: ImageFixture;
  /** library/shared-a:1 and library/shared-b:1 share sharedLayerDigest. */
  sharedA: ImageFixture;
  sharedB: ImageFixture;
  sharedLayerDigest: string;
}

export const WINDOWS_VERSIONS = {
  ltsc2019: '10.0.17763.5458',
  ltsc2022Old: '10.0.20348.2113',
  ltsc2022: '10.0.20348.2227',
  ltsc2025: '10.0.26100.1742',
} as const;

export function platformKey(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}${p['os.version'] ? `:${p['os.version']}` : ''}`;
}

/** A small linux layer: a text file and a binary blob, seeded. */
async function linuxLayer(seed: string, binSize: number): Promise<Layer> {
  return makeLayer({
    [`etc/airpack/${seed}.conf`]: seededText(`${seed}:conf`, 2_000),
    [`usr/lib/airpack/${seed}.bin`]: seededBytes(`${seed}:bin`, binSize),
  });
}

/** A Windows layer tar as Windows images have it: Files/... and Hives/... */
async function windowsLayer(seed: string, base: boolean): Promise<Layer> {
  const files: Record<string, Buffer> = base
    ? {
        'Files/Windows/System32/ntdll.dll': seededBytes(`${seed}:ntdll`, 24_000),
        'Files/Windows/System32/kernel32.dll': seededBytes(`${seed}:kernel32`, 16_000),
        'Files/Windows/System32/cmd.exe': seededBytes(`${seed}:cmd`, 8_000),
        'Files/Windows/System32/drivers/etc/hosts': seededText(`${seed}:hosts`, 800),
        'Hives/DefaultUser_Delta': seededBytes(`${seed}:hive-user`, 4_096),
        'Hives/Sam_Delta': seededBytes(`${seed}:hive-sam`, 4_096),
        'Hives/Security_Delta': seededBytes(`${seed}:hive-security`, 4_096),
        'Hives/Software_Delta': seededBytes(`${seed}:hive-software`, 8_192),
        'Hives/System_Delta': seededBytes(`${seed}:hive-system`, 8_192),
      }
    : {
        'Files/Program Files/airpack/app.exe': seededBytes(`${seed}:app`, 12_000),
        'Files/Program Files/airpack/README.txt': seededText(`${seed}:readme`, 1_500),
        'Hives/Software_Delta': seededBytes(`${seed}:hive-software-app`, 4_096),
      };
  return makeLayer(files);
}

/**
 * Push the standard set (see StandardFixtures) into `registry`, foreign layer
 * bytes onto `blobServer`, and return everything a test needs to assert.
 * Deterministic: the same code gives the same digests on every run.
 */
export async function seedStandardImages(
  registry: Pick<RegistryHandle, 'url' | 'host'>,
  blobServer: ForeignBlobSink,
  auth?: Auth,
): Promise<StandardFixtures> {
  const { url, host } = registry;

  const pushIndex = async (
    repo: string,
    tag: string,
    kind: 'oci' | 'docker',
    images: BuiltImage[],
    attestations: BuiltAttestation[] = [],
  ): Promise<IndexFixture> => {
    const children: ImageFixture[] = [];
    for (const image of images) {
      await pushImage(url, repo, image, undefined, auth);
      children.push(fixtureOf(image, repo, `${host}/${repo}@${image.manifest.digest}`));
    }
    for (const att of attestations) {
      for (const l of att.layers) await pushBlob(url, repo, l.body, auth);
      await pushBlob(url, repo, att.config.body, auth);
      await pushManifest(url, repo, att.manifest.digest, att.manifest.body, att.manifest.mediaType, auth);
    }
    // buildx puts each image's attestation right after all the images.
    const index = makeIndex(kind, [...images.map(childDescriptor), ...attestations.map((a) => a.descriptor)]);
    await pushManifest(url, repo, tag, index.body, index.mediaType, auth);
    return {
      repo,
      tag,
      ref: `${host}/${repo}:${tag}`,
      index,
      images: children,
      byPlatform: Object.fromEntries(children.map((c) => [platformKey(c.platform), c])),
      attestations,
    };
  };

  const pushSingle = async (repo: string, tag: string, image: BuiltImage): Promise<ImageFixture> => {
    await pushImage(url, repo, image, tag, auth);
    return { ...fixtureOf(image, repo, `${host}/${repo}:${tag}`), tag };
  };

  // a) library/multi:1.0
  const multiImages = [
    makeImage({ os: 'linux', architecture: 'amd64', manifestMediaType: 'oci', layers: [await linuxLayer('multi-amd64-base', 40_000), await linuxLayer('multi-amd64-app', 6_000)] }),
    makeImage({ os: 'linux', architecture: 'arm64', variant: 'v8', manifestMediaType: 'oci', layers: [await linuxLayer('multi-arm64-base', 40_000), await linuxLayer('multi-arm64-app', 6_000)] }),
    makeImage({ os: 'linux', architecture: 'arm', variant: 'v7', manifestMediaType: 'oci', layers: [await linuxLayer('multi-armv7-base', 36_000), await linuxLayer('multi-armv7-app', 6_000)] }),
  ];
  const multiAtt = [makeAttestation(multiImages[0]!, 'multi-amd64'), makeAttestation(multiImages[1]!, 'multi-arm64')];
  const multi = await pushIndex('library/multi', '1.0', 'oci', multiImages, multiAtt);

  // b) library/dockerlist:2.0
  const dockerlist = await pushIndex('library/dockerlist', '2.0', 'docker', [
    makeImage({ os: 'linux', architecture: 'amd64', manifestMediaType: 'docker', layers: [await linuxLayer('dockerlist-amd64', 30_000)] }),
    makeImage({ os: 'linux', architecture: 'arm64', manifestMediaType: 'docker', layers: [await linuxLayer('dockerlist-arm64', 30_000)] }),
  ]);

  // c) windows/servercore:ltsc
  const winRepo = 'windows/servercore';
  const foreignPaths: Record<string, string> = {};
  const winImages: BuiltImage[] = [
    makeImage({ os: 'linux', architecture: 'amd64', manifestMediaType: 'docker', layers: [await linuxLayer('servercore-linux', 20_000)] }),
  ];
  for (const osVersion of [WINDOWS_VERSIONS.ltsc2019, WINDOWS_VERSIONS.ltsc2022Old, WINDOWS_VERSIONS.ltsc2022, WINDOWS_VERSIONS.ltsc2025]) {
    const base = await windowsLayer(`servercore-${osVersion}-base`, true);
    // MCR-style URL shape, served by the loopback blob server.
    const path = `/v2/${winRepo}/blobs/${base.digest}`;
    blobServer.put(path, base.blob);
    foreignPaths[base.digest] = path;
    winImages.push(
      makeImage({
        os: 'windows',
        architecture: 'amd64',
        osVersion,
        osFeatures: ['win32k'],
        manifestMediaType: 'docker',
        foreignLayers: [{ layer: base, urls: [`${blobServer.url}${path}`] }],
        layers: [await windowsLayer(`servercore-${osVersion}-app`, false)],
      }),
    );
  }
  const winIndex = await pushIndex(winRepo, 'ltsc', 'docker', winImages);
  const windows = {
    ...winIndex,
    linux: winIndex.images[0]!,
    byOsVersion: Object.fromEntries(winIndex.images.filter((i) => i.platform.os === 'windows').map((i) => [i.osVersion!, i])),
    foreignPaths,
  };

  // d) library/single:latest
  const single = await pushSingle(
    'library/single',
    'latest',
    makeImage({ os: 'linux', architecture: 'amd64', manifestMediaType: 'oci', layers: [await linuxLayer('single', 24_000)] }),
  );

  // e) library/shared-a:1 and library/shared-b:1 share their first layer.
  const shared = await linuxLayer('shared-base', 50_000);
  const sharedA = await pushSingle(
    'library/shared-a',
    '1',
    makeImage({ os: 'linux', architecture: 'amd64', manifestMediaType: 'oci', layers: [shared, await linuxLayer('shared-a-app', 4_000)] }),
  );
  const sharedB = await pushSingle(
    'library/shared-b',
    '1',
    makeImage({ os: 'linux', architecture: 'amd64', manifestMediaType: 'oci', layers: [shared, await linuxLayer('shared-b-app', 4_000)] }),
  );

  return { host, multi, dockerlist, windows, single, sharedA, sharedB, sharedLayerDigest: shared.digest };
}

function fixtureOf(image: BuiltImage, repo: string, ref: string): ImageFixture {
  const osVersion = image.platform['os.version'];
  return { ...image, repo, ref, ...(osVersion !== undefined ? { osVersion } : {}) };
}
