/**
 * Reads what an archive holds without reading the archive: manifest.json,
 * index.json and the small JSON blobs they point at, stopping as soon as
 * nothing more is needed. On an airpack zstd bundle that is the first frame
 * (the metadata entries have a frame of their own) plus, for multi-platform
 * images or `depth: 'config'`, the frame after it where manifests and
 * configs sit; on a plain tar it is a few header reads; other files are
 * read once, streaming, until the metadata is complete.
 */
import { AirpackError } from '../errors.js';
import { blobEntryName, isIndexType, parseDockerManifest, parseIndex } from '../image/documents.js';
import { isAttestation } from '../platform/platform.js';
import { ArchiveEntry, INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES, METADATA_ENTRIES } from '../spec/media-types.js';
import type { DockerManifestEntry, ImageIndex, ImageManifest } from '../spec/types.js';
import type { TarEntry } from '../tar/entry.js';
import type { Compression } from '../compress/index.js';
import { entryName, walkArchive } from '../source/archive-walk.js';

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
  compression: Compression;
  mode: 'random' | 'stream' | 'directory';
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
/** crane names configs `sha256:<hex>` and writes them before manifest.json. */
const CRANE_CONFIG = /^sha256:[a-f0-9]{64}$/;
/** Total JSON held from one archive; past it only entries the metadata names are kept. */
const MAX_HELD = 64 * 1024 * 1024;

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
    // At index depth the manifests an index lists are still wanted: an index may list
    // platforms whose blobs the archive lacks (docker save from containerd's store).
    if (!isIndex && depth === 'index' && guard === 0) return;
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
      const name = entryName(e.Config);
      if (!have.has(name)) need.add(name);
    }
  }
  return need;
}

/** A readable archive that holds no images (a tar of sources, say): for `find`, not a broken file. */
export class NotAnImageArchive extends AirpackError {
  constructor(message: string) {
    super('ARCHIVE_INVALID', message);
  }
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
  // Set once the metadata is complete and only the rest of a plain tar's headers are walked.
  let headersOnly = false;
  const isJsonish = (e: TarEntry): boolean => {
    const name = entryName(e.name);
    return (
      !headersOnly &&
      e.type === 'file' &&
      (METADATA_ENTRIES.includes(name) ||
        needed.has(name) ||
        (e.size <= SPECULATIVE && held + e.size <= MAX_HELD && (name.startsWith(ArchiveEntry.blobsDir) || name.endsWith('.json') || CRANE_CONFIG.test(name))))
    );
  };
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
      const name = entryName(entry.name);
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
      // Past the metadata only headers are walked: nothing more is needed.
      if (!headersOnly) needed = missingNames({ dockerManifest, index, files }, depth);
      // Stop once the metadata is complete; but not between manifest.json and
      // index.json, which sit side by side at the front of an archive.
      if (!headersOnly && sawTop && needed.size === 0 && (sawBoth || !isMetaEntry)) {
        // A plain tar's remaining headers cost a 512-byte read each (its data is seeked over): walking
        // them finds a file cut inside a later entry (a layer), which every other command refuses too.
        // A compressed stream or a bundle stops here (a bundle's frames were checked on opening).
        if (walk.compression !== 'none' || walk.mode !== 'random') break;
        headersOnly = true;
      }
    }
  } finally {
    await it.return(undefined);
  }
  if (!sawTop) {
    throw new NotAnImageArchive(`${path}: expected an image archive (manifest.json or index.json), found neither in ${entriesRead} entries`);
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
