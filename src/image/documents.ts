/**
 * The documents of an image archive, parsed and checked for shape: docker's
 * manifest.json, index.json and nested indexes, image manifests, and the
 * entry paths they name (which must stay inside the archive). Errors name
 * the document and say what was expected.
 */
import { posix } from 'node:path';
import { AirpackError } from '../errors.js';
import { ArchiveEntry, INDEX_MEDIA_TYPES, MediaType } from '../spec/media-types.js';
import { SHA256_DIGEST_RE, type Descriptor, type DockerManifestEntry, type ImageIndex, type ImageManifest } from '../spec/types.js';

/** `sha256:<hex>` -> `blobs/sha256/<hex>`, or undefined for a malformed digest. */
export function blobEntryName(digest: string): string | undefined {
  return SHA256_DIGEST_RE.test(digest) ? `${ArchiveEntry.blobsDir}${digest.slice(7)}` : undefined;
}

/** Checks an entry path named by manifest.json stays inside the archive; returns it normalised. */
export function safeEntryPath(path: string, what: string): string {
  const norm = posix.normalize(path.replace(/^\.\//, ''));
  if (path === '' || posix.isAbsolute(path) || norm === '..' || norm.startsWith('../') || path.includes('\0')) {
    throw new AirpackError('ARCHIVE_INVALID', `${what}: path ${JSON.stringify(path)} points outside the archive`);
  }
  return norm;
}

/** JSON or an error naming the document; `code` says whose it is (an archive's, or a registry's manifest). */
export function parseJson<T>(data: Buffer, what: string, code: 'ARCHIVE_INVALID' | 'MANIFEST_INVALID' = 'ARCHIVE_INVALID'): T {
  try {
    return JSON.parse(data.toString('utf8')) as T;
  } catch (err) {
    throw new AirpackError(code, `${what}: not valid JSON (${(err as Error).message})`, { cause: err });
  }
}

/** Validates the shape of manifest.json. */
export function parseDockerManifest(data: Buffer, source: string): DockerManifestEntry[] {
  const what = `${source}: entry "manifest.json"`;
  const value = parseJson<unknown>(data, what);
  if (!Array.isArray(value)) throw new AirpackError('ARCHIVE_INVALID', `${what}: expected a JSON array of images, found ${value === null ? 'null' : typeof value}`);
  value.forEach((e: unknown, i) => {
    const entry = e as Partial<DockerManifestEntry> | null;
    if (!entry || typeof entry.Config !== 'string' || !Array.isArray(entry.Layers) || !entry.Layers.every((l) => typeof l === 'string')) {
      throw new AirpackError('ARCHIVE_INVALID', `${what}: item ${i} expected {Config: string, Layers: string[], RepoTags}, found ${JSON.stringify(e)?.slice(0, 200)}`);
    }
    if (entry.RepoTags != null && (!Array.isArray(entry.RepoTags) || !entry.RepoTags.every((t) => typeof t === 'string'))) {
      throw new AirpackError('ARCHIVE_INVALID', `${what}: item ${i} RepoTags expected a list of strings`);
    }
    safeEntryPath(entry.Config, `${what} item ${i} Config`);
    entry.Layers.forEach((l, j) => safeEntryPath(l, `${what} item ${i} Layers[${j}]`));
  });
  return value as DockerManifestEntry[];
}

/** Who a malformed document belongs to: an archive's (the default) or a registry's manifest. Both are exit 4. */
type DocumentFault = 'ARCHIVE_INVALID' | 'MANIFEST_INVALID';

/** Validates the shape of index.json (or a nested index blob, or a registry's index). */
export function parseIndex(data: Buffer, what: string, code: DocumentFault = 'ARCHIVE_INVALID'): ImageIndex {
  const value = parseJson<Partial<ImageIndex> | null>(data, what, code);
  // Docker 25+ writes `"manifests": null` into index.json when it saved no OCI manifests: an empty index.
  if (value && typeof value === 'object' && value.manifests === null) value.manifests = [];
  if (!value || typeof value !== 'object' || !Array.isArray(value.manifests)) {
    throw new AirpackError(code, `${what}: expected an image index with a "manifests" list`);
  }
  value.manifests.forEach((d, i) => {
    const fault = descriptorFault(d);
    if (fault) throw new AirpackError(code, `${what}: manifests[${i}] ${fault}`);
  });
  return value as ImageIndex;
}

const isStringMap = (v: unknown): boolean => !!v && typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string');

/**
 * What is wrong with a descriptor (the image spec's types), or undefined.
 * Digests must be sha256: the only algorithm every registry and loader
 * checks, and one airpack verifies; a child named by another would go
 * unchecked.
 */
function descriptorFault(d: unknown): string | undefined {
  if (!isDescriptor(d) || !SHA256_DIGEST_RE.test(d.digest)) return `expected {mediaType, digest: sha256:<hex>, size: a whole number of bytes}, found ${JSON.stringify(d)?.slice(0, 200)}`;
  if (d.mediaType !== undefined && typeof d.mediaType !== 'string') return `mediaType expected a string, found ${JSON.stringify(d.mediaType)?.slice(0, 100)}`;
  if (d.annotations !== undefined && !isStringMap(d.annotations)) return 'annotations expected an object of strings';
  if (d.urls !== undefined && (!Array.isArray(d.urls) || !d.urls.every((u) => typeof u === 'string'))) return `urls expected a list of strings, found ${JSON.stringify(d.urls)?.slice(0, 100)}`;
  const p = d.platform as Record<string, unknown> | undefined;
  if (p === undefined) return undefined;
  if (!p || typeof p !== 'object' || typeof p.os !== 'string' || typeof p.architecture !== 'string') return `platform expected {os, architecture} strings, found ${JSON.stringify(p)?.slice(0, 100)}`;
  for (const k of ['variant', 'os.version']) if (p[k] !== undefined && typeof p[k] !== 'string') return `platform ${k} expected a string`;
  return undefined;
}

/** A descriptor's shape: a digest string and a size that is a whole number of bytes. */
export function isDescriptor(d: unknown): d is Descriptor {
  const v = d as Partial<Descriptor> | null;
  return !!v && typeof v === 'object' && typeof v.digest === 'string' && Number.isSafeInteger(v.size) && (v.size as number) >= 0;
}

/** Validates the shape of an image manifest: a config and layers, each a well-formed sha256 descriptor. */
export function parseManifest(data: Buffer, what: string, code: DocumentFault = 'ARCHIVE_INVALID'): ImageManifest {
  const value = parseJson<Partial<ImageManifest> | null>(data, what, code);
  if (!value || typeof value !== 'object' || !value.config || typeof value.config !== 'object' || !Array.isArray(value.layers)) {
    throw new AirpackError(code, `${what}: expected an image manifest with "config" and "layers"`);
  }
  const configFault = descriptorFault(value.config);
  if (configFault) throw new AirpackError(code, `${what}: config ${configFault}`);
  value.layers.forEach((l, i) => {
    const fault = descriptorFault(l);
    if (fault) throw new AirpackError(code, `${what}: layers[${i}] ${fault}`);
  });
  return value as ImageManifest;
}

/** parseManifest, or undefined when the bytes are not a well-formed manifest (for readers that only describe; verify names the fault). */
export function manifestOrUndefined(data: Buffer | undefined): ImageManifest | undefined {
  if (!data) return undefined;
  try {
    return parseManifest(data, 'manifest');
  } catch {
    return undefined;
  }
}

export function isIndexType(mediaType: string | undefined): boolean {
  return mediaType !== undefined && INDEX_MEDIA_TYPES.has(mediaType);
}

/** Config media types of images (as opposed to artifacts, whose config may be anything). */
export const IMAGE_CONFIG_TYPES: ReadonlySet<string> = new Set([MediaType.ociConfig, MediaType.dockerConfig]);

/** Is this manifest's config an image config (or untyped, as older tools write it)? */
export function hasImageConfig(manifest: Pick<ImageManifest, 'config'>): boolean {
  return !manifest.config.mediaType || IMAGE_CONFIG_TYPES.has(manifest.config.mediaType);
}

/**
 * An image's config must name one rootfs.diff_id per layer: docker load,
 * skopeo and containerd refuse an image archive whose config does not
 * ("rootFS is not set"), so such an image is not written into one.
 */
export function checkDiffIds(manifest: Pick<ImageManifest, 'layers'>, config: { rootfs?: { diff_ids?: unknown } }, what: string): void {
  const ids = config.rootfs?.diff_ids;
  const n = Array.isArray(ids) ? ids.length : undefined;
  if (n !== manifest.layers.length) {
    throw new AirpackError('MANIFEST_INVALID', `${what}: ${manifest.layers.length} layer(s), but its config has ${n === undefined ? 'no rootfs.diff_ids' : `${n} rootfs.diff_ids`} [expected one per layer; loaders refuse the image otherwise]`);
  }
}
