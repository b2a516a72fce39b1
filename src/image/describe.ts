/**
 * From an archive's metadata to the images it holds: names (RepoTags and
 * the `io.containerd.image.name` annotation), the digest index.json records,
 * and per platform the manifest, config and sizes. Works from whatever the
 * metadata read collected; what it did not read is left out, never guessed.
 */
import { createHash } from 'node:crypto';
import { entryName } from '../tar/names.js';
import { formatPlatform, isAttestation, normalizePlatform, type Platform } from '../platform/platform.js';
import { parseReference, formatReference, type Reference } from '../ref/reference.js';
import { Annotation } from '../spec/media-types.js';
import type { Descriptor, ImageConfig, ImageManifest } from '../spec/types.js';
import { blobEntryName, isIndexType, manifestOrUndefined, parseIndex } from './documents.js';
import type { DockerManifestEntry, ImageIndex } from '../spec/types.js';

/** The documents an archive's metadata read collected: what describe works from. */
export interface ArchiveDocuments {
  dockerManifest?: DockerManifestEntry[];
  index?: ImageIndex;
  /** Small JSON entries by normalised entry name (`blobs/sha256/<hex>`, `<id>.json`). */
  files: Map<string, Buffer>;
  /** Entries the documents name that the archive does not hold (known once it was read to the end). */
  missing?: readonly string[];
}

export interface ArchiveImagePlatform {
  /** `linux/arm64`, `windows/amd64:10.0.20348.2227`. */
  platform?: string;
  os?: string;
  architecture?: string;
  variant?: string;
  osVersion?: string;
  manifestDigest?: string;
  /** The manifest's digest in the source it was packed from, when airpack rewrote it (`Annotation.sourceManifestDigest`). */
  sourceDigest?: string;
  configDigest?: string;
  /** Manifest + config + layers, in bytes as stored (known when the manifest was read). */
  size?: number;
  layers?: number;
}

export interface ArchiveImage {
  /** Fully qualified names: `docker.io/rancher/x:v1`, `host/repo@sha256:...`. */
  names: string[];
  /** RepoTags as manifest.json has them. */
  repoTags: string[];
  /** The index.json descriptor's digest (a manifest or an index), when there is one. */
  digest?: string;
  /** What the reference resolved to in its source (index or manifest), when `digest` is another (`Annotation.sourceDigest`). */
  sourceDigest?: string;
  mediaType?: string;
  platforms: ArchiveImagePlatform[];
  /** Sum over platforms of distinct blob sizes, when known. */
  size?: number;
  /**
   * The index lists platforms whose manifests the archive does not hold (docker
   * save from containerd's store keeps the whole index but one platform's blobs):
   * `platforms` has only those it holds.
   */
  sparse?: boolean;
  /** For an image index.json does not list: its item in manifest.json. */
  dockerEntry?: number;
  /** The manifest.json items that describe this image (skopeo's `docker-archive:PATH:@N` picks by these). */
  dockerItems: number[];
  /**
   * A bare tag in `org.opencontainers.image.ref.name` (`latest`, `3.10`):
   * what skopeo, podman, buildah, oras, regclient and umoci write for
   * `oci:DIR:TAG`. It names no repository, so it selects, but is no name.
   */
  refTag?: string;
}

/** Normalises a RepoTag or annotation to a full reference, or returns it unchanged when it does not parse. */
export function normalizeName(name: string): string {
  try {
    return formatReference(parseReference(name));
  } catch {
    return name;
  }
}

function json<T>(data: Buffer | undefined): T | undefined {
  if (!data) return undefined;
  try {
    return JSON.parse(data.toString('utf8')) as T;
  } catch {
    return undefined;
  }
}

function platformOf(p: Platform | undefined, config: ImageConfig | undefined): ArchiveImagePlatform {
  // A descriptor platform with an empty os or architecture (imgutil writes architecture "") says nothing.
  const described = p?.os && p.architecture ? p : undefined;
  // A config is read loosely (verify names its faults): fields that are not strings say nothing.
  const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
  const [os, architecture, variant] = [text(config?.os), text(config?.architecture), text(config?.variant)];
  const raw: Platform | undefined = described ?? (os && architecture ? { os, architecture, ...(variant ? { variant } : {}) } : undefined);
  if (!raw) return {};
  const osVersion = described?.['os.version'] ?? text(config?.['os.version']);
  const n = normalizePlatform({ ...raw, ...(osVersion ? { 'os.version': osVersion } : {}) });
  const out: ArchiveImagePlatform = { platform: formatPlatform(n), os: n.os, architecture: n.architecture };
  if (n.variant) out.variant = n.variant;
  if (osVersion) out.osVersion = osVersion;
  return out;
}

function manifestPlatform(meta: Pick<ArchiveDocuments, 'files'>, d: Descriptor): ArchiveImagePlatform {
  const name = blobEntryName(d.digest);
  const manifest = manifestOrUndefined(name ? meta.files.get(name) : undefined);
  const cfgName = manifest?.config?.digest ? blobEntryName(manifest.config.digest) : undefined;
  const config = json<ImageConfig>(cfgName ? meta.files.get(cfgName) : undefined);
  const out = platformOf(d.platform, config);
  out.manifestDigest = d.digest;
  const source = d.annotations?.[Annotation.sourceManifestDigest];
  if (source) out.sourceDigest = source;
  if (manifest?.config?.digest) {
    out.configDigest = manifest.config.digest;
    out.layers = manifest.layers.length;
    out.size = d.size + manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0);
  }
  return out;
}

/** The images an archive holds, index.json entries first, then docker-only entries. */
export function describeArchiveImages(meta: ArchiveDocuments): ArchiveImage[] {
  const images: ArchiveImage[] = [];
  const byConfig = new Map<string, ArchiveImage>();
  const absent = new Set(meta.missing ?? []);
  for (const d of meta.index?.manifests ?? []) {
    if (isAttestation(d.platform)) continue;
    const image: ArchiveImage = { names: [], repoTags: [], digest: d.digest, mediaType: d.mediaType, platforms: [], dockerItems: [] };
    const ann = d.annotations ?? {};
    if (ann[Annotation.sourceDigest]) image.sourceDigest = ann[Annotation.sourceDigest];
    const full = ann[Annotation.containerdImageName];
    if (full) image.names.push(normalizeName(full));
    const refName = ann[Annotation.refName];
    // ref.name is a full reference in some layouts (skopeo, crane), just a tag in others.
    if (refName && /[/:@]/.test(refName)) image.names.push(normalizeName(refName));
    else if (refName) image.refTag = refName;
    const nestedName = blobEntryName(d.digest);
    const nested = nestedName ? meta.files.get(nestedName) : undefined;
    if (isIndexType(d.mediaType) && nested) {
      try {
        for (const c of parseIndex(nested, nestedName!).manifests) {
          if (isAttestation(c.platform)) continue;
          if (absent.has(blobEntryName(c.digest) ?? '')) image.sparse = true;
          else image.platforms.push(manifestPlatform(meta, c));
        }
      } catch {
        /* verify reports it */
      }
    } else if (!isIndexType(d.mediaType)) {
      image.platforms.push(manifestPlatform(meta, d));
    }
    for (const p of image.platforms) if (p.configDigest) byConfig.set(p.configDigest, image);
    images.push(image);
  }
  for (const [entryIndex, e] of (meta.dockerManifest ?? []).entries()) {
    const cfgName = entryName(e.Config);
    // `<hex>.json` (docker), `blobs/sha256/<hex>` (Docker 25), `sha256:<hex>` (crane).
    const hex = /(?:^|\/|sha256:)([a-f0-9]{64})(?:\.json)?$/.exec(cfgName)?.[1];
    let image = hex ? byConfig.get(`sha256:${hex}`) : undefined;
    // Manifests not read (shallow open): the same image when index.json names it alike.
    const tags = (e.RepoTags ?? []).map(normalizeName);
    image ??= tags.length > 0 ? images.find((i) => i.digest !== undefined && tags.some((t) => i.names.includes(t))) : undefined;
    if (!image) {
      const configBytes = meta.files.get(cfgName);
      const p = platformOf(undefined, json<ImageConfig>(configBytes));
      // The digest of the bytes, as docker load and skopeo take it; the name may say otherwise.
      if (configBytes) p.configDigest = `sha256:${createHash('sha256').update(configBytes).digest('hex')}`;
      else if (hex) p.configDigest = `sha256:${hex}`;
      p.layers = e.Layers.length;
      image = { names: [], repoTags: [], platforms: [p], dockerEntry: entryIndex, dockerItems: [] };
      images.push(image);
    }
    image.dockerItems.push(entryIndex);
    for (const tag of e.RepoTags ?? []) {
      if (!image.repoTags.includes(tag)) image.repoTags.push(tag);
      const full = normalizeName(tag);
      if (!image.names.includes(full)) image.names.push(full);
    }
  }
  for (const image of images) {
    const sizes = image.platforms.map((p) => p.size);
    if (sizes.length > 0 && sizes.every((s) => s !== undefined)) image.size = sizes.reduce<number>((a, b) => a + (b ?? 0), 0);
  }
  return images;
}

/**
 * Does an image match a reference (tag by name, `docker.io` defaults applied; digest by index or
 * manifest digest, the source's digests airpack recorded for them, or a docker-only image's ID)?
 */
export function imageMatches(image: ArchiveImage, ref: Reference): { name?: string } | undefined {
  const repo = `${ref.registry}/${ref.repository}`;
  if (ref.digest) {
    // By the digest the archive records (index or manifest), or by the name it was stored under:
    // a digest-only pull keeps the source registry's digest in its name (`repo@sha256:...`).
    // An image docker's manifest.json alone describes has no manifest digest: its config digest is
    // its ID (what `docker images` shows and `docker save <id>` took), so that names it.
    const ids = image.digest === undefined && image.platforms.every((p) => p.manifestDigest === undefined) ? image.platforms.map((p) => p.configDigest) : [];
    const digests = [image.digest, image.sourceDigest, ...image.platforms.flatMap((p) => [p.manifestDigest, p.sourceDigest]), ...ids];
    const byName = image.names.find((n) => n === `${repo}@${ref.digest}`);
    if (byName && !digests.includes(ref.digest)) return { name: byName };
    if (!digests.includes(ref.digest)) return undefined;
    const named = image.names.find((n) => n.startsWith(`${repo}:`) || n.startsWith(`${repo}@`));
    return named ? { name: named } : {};
  }
  const want = `${repo}:${ref.tag}`;
  const name = image.names.find((n) => n === want || n.startsWith(`${want}@`));
  return name ? { name } : undefined;
}
