/**
 * Reads what an archive holds without reading the archive: manifest.json,
 * index.json and the small JSON blobs they point at, stopping as soon as
 * nothing more is needed. On an airpack zstd bundle that is the first frame
 * (the metadata entries have a frame of their own) plus, for multi-platform
 * images or `depth: 'config'`, the frame after it where manifests and
 * configs sit; on a plain tar it is a few header reads; other files are
 * read once, streaming, until the metadata is complete.
 */
import { posix } from 'node:path';
import { AirpackError } from '../errors.js';
import { isAttestation } from '../platform/platform.js';
import { ArchiveEntry, INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES, METADATA_ENTRIES } from '../spec/media-types.js';
import { SHA256_DIGEST_RE, type DockerManifestEntry, type ImageIndex, type ImageManifest } from '../spec/types.js';
import type { TarEntry } from '../tar/entry.js';
import type { Compression } from '../tar/open-archive.js';
import { walkArchive } from './walk.js';

export interface OpenOptions {
  /**
   * How deep to read: `index` (names, digests, platforms: index.json,
   * manifest.json, nested indexes) or `config` (also every manifest and
   * config, for sizes and Windows versions). Default `config`.
   */
  depth?: 'index' | 'config';
  windowLogMax?: number;
}

export interface ArchiveMetadata {
  path: string;
  compression: Compression | 'bzip2' | 'lz4';
  mode: 'random' | 'stream';
  seekTable: boolean;
  /** docker manifest.json, when present. */
  dockerManifest?: DockerManifestEntry[];
  /** OCI index.json, when present. */
  index?: ImageIndex;
  /** Small JSON entries read on the way, by entry name (`blobs/sha256/<hex>`, `<id>.json`). */
  files: Map<string, Buffer>;
  /** Entries walked before stopping. */
  entriesRead: number;
  /** True when the walk reached the end of the archive. */
  complete: boolean;
  /** Entry names referenced by the metadata that the walk never met (only meaningful when complete). */
  missing: string[];
}

/** Largest JSON entry we hold in memory. */
const MAX_JSON = 8 * 1024 * 1024;
/** Small entries read on speculation (a config might be one). */
const SPECULATIVE = 1024 * 1024;
/** Total JSON held from one archive; past it only entries the metadata names are kept. */
const MAX_HELD = 64 * 1024 * 1024;

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

export function parseJson<T>(data: Buffer, what: string): T {
  try {
    return JSON.parse(data.toString('utf8')) as T;
  } catch (err) {
    throw new AirpackError('ARCHIVE_INVALID', `${what}: not valid JSON (${(err as Error).message})`, { cause: err });
  }
}

/** Validates the shape of manifest.json. */
export function parseDockerManifest(data: Buffer, source: string): DockerManifestEntry[] {
  const what = `${source}: entry "manifest.json"`;
  const value = parseJson<unknown>(data, what);
  if (!Array.isArray(value)) throw new AirpackError('ARCHIVE_INVALID', `${what}: expected a JSON array, found ${typeof value}`);
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

/** Validates the shape of index.json (or a nested index blob). */
export function parseIndex(data: Buffer, what: string): ImageIndex {
  const value = parseJson<Partial<ImageIndex> | null>(data, what);
  if (!value || typeof value !== 'object' || !Array.isArray(value.manifests)) {
    throw new AirpackError('ARCHIVE_INVALID', `${what}: expected an image index with a "manifests" list`);
  }
  value.manifests.forEach((d, i) => {
    if (!d || typeof d.digest !== 'string' || !SHA256_DIGEST_RE.test(d.digest) || typeof d.size !== 'number') {
      throw new AirpackError('ARCHIVE_INVALID', `${what}: manifests[${i}] expected {mediaType, digest: sha256:<hex>, size}, found ${JSON.stringify(d)?.slice(0, 200)}`);
    }
  });
  return value as ImageIndex;
}

export function parseManifest(data: Buffer, what: string): ImageManifest {
  const value = parseJson<Partial<ImageManifest> | null>(data, what);
  if (!value || typeof value !== 'object' || !value.config || typeof value.config.digest !== 'string' || !Array.isArray(value.layers)) {
    throw new AirpackError('ARCHIVE_INVALID', `${what}: expected an image manifest with "config" and "layers"`);
  }
  return value as ImageManifest;
}

export function isIndexType(mediaType: string | undefined): boolean {
  return mediaType !== undefined && INDEX_MEDIA_TYPES.has(mediaType);
}

/** Guesses from content when the media type is absent (older OCI layouts). */
function blobKind(data: Buffer): 'index' | 'manifest' | 'other' {
  try {
    const v = JSON.parse(data.toString('utf8')) as { manifests?: unknown; config?: unknown; mediaType?: string };
    if (v.mediaType && INDEX_MEDIA_TYPES.has(v.mediaType)) return 'index';
    if (v.mediaType && MANIFEST_MEDIA_TYPES.has(v.mediaType)) return 'manifest';
    if (Array.isArray(v.manifests)) return 'index';
    if (v.config) return 'manifest';
  } catch {
    /* not JSON: a layer or something else */
  }
  return 'other';
}

/** Entry names the metadata read so far still needs. */
export function missingNames(meta: Pick<ArchiveMetadata, 'dockerManifest' | 'index' | 'files'>, depth: 'index' | 'config'): Set<string> {
  const need = new Set<string>();
  const have = meta.files;
  const visit = (digest: string, mediaType: string | undefined, guard: number): void => {
    const name = blobEntryName(digest);
    if (!name || guard > 8) return;
    const isIndex = isIndexType(mediaType);
    if (!isIndex && depth === 'index') return;
    const data = have.get(name);
    if (!data) {
      need.add(name);
      return;
    }
    const kind = blobKind(data);
    if (kind === 'index') {
      try {
        for (const d of parseIndex(data, name).manifests) if (!isAttestation(d.platform)) visit(d.digest, d.mediaType, guard + 1);
      } catch {
        /* reported by verify */
      }
    } else if (kind === 'manifest' && depth === 'config') {
      const cfg = blobEntryName((JSON.parse(data.toString('utf8')) as ImageManifest).config?.digest ?? '');
      if (cfg && !have.has(cfg)) need.add(cfg);
    }
  };
  for (const d of meta.index?.manifests ?? []) if (!isAttestation(d.platform)) visit(d.digest, d.mediaType, 0);
  if (depth === 'config') {
    for (const e of meta.dockerManifest ?? []) {
      const name = posix.normalize(e.Config);
      if (!have.has(name)) need.add(name);
    }
  }
  return need;
}

/** Reads the metadata of one archive, stopping as early as the archive allows. */
export async function openArchive(path: string, opts: OpenOptions = {}): Promise<ArchiveMetadata> {
  const depth = opts.depth ?? 'config';
  const files = new Map<string, Buffer>();
  let dockerManifest: DockerManifestEntry[] | undefined;
  let index: ImageIndex | undefined;
  let sawTop = false;
  let sawBoth = false;
  let needed: Set<string> = new Set();
  let held = 0;
  const isJsonish = (e: TarEntry): boolean =>
    e.type === 'file' &&
    (METADATA_ENTRIES.includes(e.name) ||
      needed.has(posix.normalize(e.name)) ||
      (e.size <= SPECULATIVE && held + e.size <= MAX_HELD && (e.name.startsWith(ArchiveEntry.blobsDir) || e.name.endsWith('.json'))));
  const walk = await walkArchive(path, { want: isJsonish, maxEntrySize: MAX_JSON, ...(opts.windowLogMax !== undefined ? { windowLogMax: opts.windowLogMax } : {}) });
  let entriesRead = 0;
  let complete = false;
  const it = walk.entries;
  try {
    for (;;) {
      const r = await it.next();
      if (r.done) {
        complete = true;
        break;
      }
      const { entry, data } = r.value;
      entriesRead++;
      const name = posix.normalize(entry.name);
      const isMetaEntry = METADATA_ENTRIES.includes(name);
      if (data) {
        if (name === ArchiveEntry.dockerManifest) dockerManifest = parseDockerManifest(data, path);
        else if (name === ArchiveEntry.ociIndex) index = parseIndex(data, `${path}: entry "index.json"`);
        else if (!isMetaEntry && (data[0] === 0x7b || data[0] === 0x5b)) {
          files.set(name, data);
          held += data.length;
        }
      }
      if (name === ArchiveEntry.dockerManifest || name === ArchiveEntry.ociIndex) sawTop = true;
      if (dockerManifest && index) sawBoth = true;
      needed = missingNames({ dockerManifest, index, files }, depth);
      // Stop once the metadata is complete; but not between manifest.json and
      // index.json, which sit side by side at the front of an archive.
      if (sawTop && needed.size === 0 && (sawBoth || !isMetaEntry)) break;
    }
  } finally {
    await it.return(undefined);
  }
  if (!sawTop) {
    throw new AirpackError('ARCHIVE_INVALID', `${path}: expected an image archive (manifest.json or index.json), found neither in ${entriesRead} entries`);
  }
  const meta: ArchiveMetadata = {
    path,
    compression: walk.compression,
    mode: walk.mode,
    seekTable: walk.seekTable,
    files,
    entriesRead,
    complete,
    missing: complete ? [...needed] : [],
  };
  if (dockerManifest) meta.dockerManifest = dockerManifest;
  if (index) meta.index = index;
  return meta;
}
