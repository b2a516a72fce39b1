/**
 * Images from archives on disk instead of a registry: docker-archive tars
 * (docker save, crane, skopeo, buildx type=docker), OCI layout tars (buildx
 * type=oci, skopeo oci-archive), airpack's own archives and bundles, and OCI
 * layout directories. They resolve like registry images, with the same
 * platform choice, and their blobs are read from the archive and verified
 * against their digests on the way into the output, as downloads are.
 *
 * Random access: a plain tar is indexed by its headers, a directory by its
 * files; a compressed tar (.tar.gz, .tar.zst) is decompressed once into a
 * scratch file first. An image that index.json does not list (docker save
 * before Docker 25, crane) gets a docker manifest rebuilt from its config and
 * layer files, as `docker load` does; its digest is then new.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { detectCompression as detectLayerCompression } from '../blob/decompress.js';
import type { BlobSource } from '../blob/download.js';
import { checkDigest } from '../blob/verify.js';
import { AirpackError } from '../errors.js';
import { isAttestation, type PlatformSpec } from '../platform/platform.js';
import type { ArchiveInput } from '../ref/input.js';
import { formatReference, parseReference, type Reference } from '../ref/reference.js';
import type { FetchedManifest } from '../registry/client.js';
import { describeArchiveImages, type ArchiveImage } from '../scan/describe.js';
import { imageMatches } from '../scan/find.js';
import { blobEntryName, isIndexType, parseDockerManifest, parseIndex, safeEntryPath } from '../scan/open.js';
import { archiveError } from '../scan/walk.js';
import { ArchiveEntry, MediaType } from '../spec/media-types.js';
import type { Descriptor, DockerManifestEntry, ImageConfig, ImageIndex, ImageManifest } from '../spec/types.js';
import { openArchiveStream } from '../tar/open-archive.js';
import { scanTarFile } from '../tar/scan-file.js';
import { dockerManifestFor } from '../archive/docker-manifest.js';
import { resolveFrom, type ManifestSource, type Resolution } from './resolve.js';
import { urlSource } from './sources.js';

/** Where an entry's bytes are. */
interface Located {
  file: string;
  offset: number;
  size: number;
}

/** Largest JSON document (manifest, index, config) read into memory. */
const MAX_JSON = 8 * 1024 * 1024;

/** An archive file or OCI layout directory, indexed for random access. */
export class LocalArchive {
  private described?: Promise<ArchiveImage[]>;
  private dockerManifest?: DockerManifestEntry[];
  private readonly files = new Map<string, Buffer>();

  private constructor(
    /** The path as given, for messages. */
    readonly path: string,
    private readonly locate: (name: string) => Located | undefined,
  ) {}

  /** Opens `file` (a tar, plain or compressed, or a directory); compressed tars are decompressed into `spill()`. */
  static async open(file: string, spill: () => Promise<string>): Promise<LocalArchive> {
    let info;
    try {
      info = await stat(file);
    } catch (err) {
      throw new AirpackError('NOT_FOUND', `${file}: no such archive file or OCI layout directory`, { cause: err });
    }
    if (info.isDirectory()) return new LocalArchive(file, (name) => locateInDirectory(file, name));
    try {
      let tar = file;
      const opened = await openArchiveStream(file);
      if (opened.compression === 'none') opened.stream.destroy();
      else {
        tar = path.join(await spill(), `${createHash('sha256').update(path.resolve(file)).digest('hex').slice(0, 16)}.tar`);
        await pipeline(opened.stream, createWriteStream(tar));
      }
      const entries = new Map<string, { name: string; type: string; linkname: string; offset: number; size: number }>();
      for (const e of (await scanTarFile(tar, { source: file })).entries) {
        entries.set(path.posix.normalize(e.name), { name: e.name, type: e.type, linkname: e.linkname, offset: e.dataOffset, size: e.size });
      }
      return new LocalArchive(file, (name) => {
        // Links inside the archive (docker save keeps <id>/layer.tar as a link to the blob) are followed, never out of it.
        for (let hops = 0, at = name; hops < 8; hops++) {
          const e = entries.get(at);
          if (!e) return undefined;
          if (e.type === 'file') return { file: tar, offset: e.offset, size: e.size };
          if (e.type === 'hardlink') at = path.posix.normalize(e.linkname);
          else if (e.type === 'symlink') at = path.posix.join(path.posix.dirname(at), e.linkname);
          else return undefined;
          if (at.startsWith('../') || path.posix.isAbsolute(at)) return undefined;
        }
        return undefined;
      });
    } catch (err) {
      throw archiveError(file, err);
    }
  }

  entry(name: string): Located | undefined {
    return this.locate(safeEntryPath(name, this.path));
  }

  /** A blob stored under `blobs/sha256/<hex>`. */
  blob(digest: string): Located | undefined {
    const name = blobEntryName(digest);
    return name ? this.locate(name) : undefined;
  }

  /** An entry's bytes (a JSON document), or undefined when the archive lacks it. */
  async read(name: string, what: string): Promise<Buffer | undefined> {
    const at = this.entry(name);
    if (!at) return undefined;
    if (at.size > MAX_JSON) throw new AirpackError('ARCHIVE_INVALID', `${this.path}: ${what} (entry ${JSON.stringify(name)}) is ${at.size} bytes [expected at most ${MAX_JSON}]`);
    return readRange(at, 0, at.size);
  }

  /** A blob's bytes, checked against its descriptor. */
  async blobBytes(desc: Descriptor, what: string): Promise<Buffer> {
    const name = blobEntryName(desc.digest);
    const data = name ? await this.read(name, what) : undefined;
    if (!data) throw new AirpackError('ARCHIVE_INVALID', `${this.path}: ${what} ${desc.digest} is not in the archive`);
    checkDigest(`${this.path}: ${what}`, desc, { digest: sha256(data), size: data.length });
    return data;
  }

  /** A manifest or index by digest, checked, with its media type (from the document when the descriptor has none). */
  async manifest(desc: Pick<Descriptor, 'digest' | 'mediaType'> & { size?: number }, what: string): Promise<FetchedManifest> {
    const bytes = await this.blobBytes({ mediaType: desc.mediaType, digest: desc.digest, size: desc.size ?? -1 }, what);
    let mediaType = desc.mediaType;
    if (!mediaType) {
      const doc = JSON.parse(bytes.toString('utf8')) as { mediaType?: string; manifests?: unknown };
      mediaType = doc.mediaType ?? (Array.isArray(doc.manifests) ? MediaType.ociIndex : MediaType.ociManifest);
    }
    return { mediaType, digest: desc.digest, bytes };
  }

  /** The images the archive holds, named as `ls` names them. */
  images(): Promise<ArchiveImage[]> {
    this.described ??= this.describe();
    return this.described;
  }

  private async describe(): Promise<ArchiveImage[]> {
    const dockerData = await this.read(ArchiveEntry.dockerManifest, 'manifest.json');
    const indexData = await this.read(ArchiveEntry.ociIndex, 'index.json');
    if (!dockerData && !indexData) {
      throw new AirpackError('ARCHIVE_INVALID', `${this.path}: expected an image archive or OCI layout (manifest.json or index.json), found neither`);
    }
    if (dockerData) this.dockerManifest = parseDockerManifest(dockerData, this.path);
    const index = indexData ? parseIndex(indexData, `${this.path}: index.json`) : undefined;
    // The JSON documents naming and platforms are read from: indexes, manifests, configs.
    const keep = async (name: string | undefined): Promise<Buffer | undefined> => {
      if (!name || this.files.has(name)) return name ? this.files.get(name) : undefined;
      const data = await this.read(name, name);
      if (data) this.files.set(name, data);
      return data;
    };
    const visit = async (d: Descriptor, depth: number): Promise<void> => {
      if (isAttestation(d.platform) || depth > 4) return;
      const data = await keep(blobEntryName(d.digest));
      if (!data) return;
      if (isIndexType(d.mediaType) || (!d.mediaType && data.includes('"manifests"'))) {
        for (const c of parseIndex(data, `${this.path}: index ${d.digest}`).manifests) await visit(c, depth + 1);
      } else {
        const m = JSON.parse(data.toString('utf8')) as Partial<ImageManifest>;
        if (m.config?.digest) await keep(blobEntryName(m.config.digest));
      }
    };
    for (const d of index?.manifests ?? []) await visit(d, 0);
    for (const e of this.dockerManifest ?? []) await keep(path.posix.normalize(e.Config));
    const meta: { files: Map<string, Buffer>; index?: ImageIndex; dockerManifest?: DockerManifestEntry[] } = { files: this.files };
    if (index) meta.index = index;
    if (this.dockerManifest) meta.dockerManifest = this.dockerManifest;
    return describeArchiveImages(meta);
  }

  /** Where to read each blob from: the archive, else (foreign layers left out) the descriptor's URLs. */
  sources(desc: Descriptor, located?: ReadonlyMap<string, Located>): BlobSource[] {
    const at = located?.get(desc.digest) ?? this.blob(desc.digest);
    const out: BlobSource[] = [];
    if (at) out.push(rangeSource(`${this.path}`, at));
    out.push(...(desc.urls ?? []).filter((u) => /^https?:\/\//i.test(u)).map((u) => urlSource(u)));
    if (out.length === 0) {
      out.push({
        name: this.path,
        open: () => Promise.reject(new AirpackError('NOT_FOUND', `not in the archive`)),
      });
    }
    return out;
  }

  /** Manifests, configs and blob places for an image index.json does not list: a docker manifest rebuilt as `docker load` does. */
  async dockerOnly(image: ArchiveImage, name: string): Promise<{ source: ManifestSource; located: Map<string, Located> }> {
    const entry = image.dockerEntry !== undefined ? this.dockerManifest?.[image.dockerEntry] : undefined;
    if (!entry) throw new AirpackError('ARCHIVE_INVALID', `${this.path}: image ${name}: no manifest.json entry`);
    const what = `${this.path}: manifest.json entry for ${name}`;
    const configBytes = await this.read(entry.Config, `config of ${name}`);
    if (!configBytes) throw new AirpackError('ARCHIVE_INVALID', `${what}: config ${JSON.stringify(entry.Config)} is not in the archive`);
    let config: ImageConfig;
    try {
      config = JSON.parse(configBytes.toString('utf8')) as ImageConfig;
    } catch (err) {
      throw new AirpackError('ARCHIVE_INVALID', `${what}: config ${JSON.stringify(entry.Config)} is not valid JSON`, { cause: err });
    }
    const located = new Map<string, Located>();
    const layers: Descriptor[] = [];
    for (const [i, layerPath] of entry.Layers.entries()) {
      const at = this.entry(layerPath);
      if (!at) throw new AirpackError('ARCHIVE_INVALID', `${what}: layer ${JSON.stringify(layerPath)} is not in the archive`);
      const kind = detectLayerCompression(await readRange(at, 0, Math.min(4, at.size)));
      // A plain layer tar is its own diff_id (checked when it is copied); a compressed one must be hashed.
      const diffId = config.rootfs?.diff_ids?.[i];
      const digest = kind === 'none' && diffId ? diffId : await hashRange(at);
      const mediaType = kind === 'gzip' ? MediaType.dockerLayerGzip : kind === 'zstd' ? MediaType.ociLayerZstd : MediaType.dockerLayer;
      layers.push({ mediaType, digest, size: at.size });
      located.set(digest, at);
    }
    const manifest = dockerManifestFor(configBytes, layers);
    return {
      located,
      source: {
        top: async () => manifest,
        child: (digest) => Promise.reject(new AirpackError('ARCHIVE_INVALID', `${what}: no index holds ${digest}`)),
        config: async () => configBytes,
      },
    };
  }
}

function locateInDirectory(dir: string, name: string): Located | undefined {
  const file = path.join(dir, name);
  try {
    const info = statSync(file);
    return info.isFile() ? { file, offset: 0, size: info.size } : undefined;
  } catch {
    return undefined;
  }
}

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

async function readRange(at: Located, offset: number, length: number): Promise<Buffer> {
  const fh = await open(at.file, 'r');
  try {
    const buf = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await fh.read(buf, done, length - done, at.offset + offset + done);
      if (bytesRead === 0) throw new AirpackError('ARCHIVE_INVALID', `${at.file}: ended at offset ${at.offset + offset + done}, inside an entry`);
      done += bytesRead;
    }
    return buf;
  } finally {
    await fh.close();
  }
}

function rangeStream(at: Located, offset: number): Readable {
  if (offset >= at.size) return Readable.from([]);
  return createReadStream(at.file, { start: at.offset + offset, end: at.offset + at.size - 1, highWaterMark: 1024 * 1024 });
}

async function hashRange(at: Located): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of rangeStream(at, 0)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

/** A blob in an archive: any offset can be read, so a "resume" always continues. */
function rangeSource(name: string, at: Located): BlobSource {
  return { name, open: async (offset) => ({ body: rangeStream(at, offset), resumed: true }) };
}

/** The archives of one run, each opened once, with the scratch space their decompressed copies take. */
export class LocalArchives {
  private readonly opened = new Map<string, Promise<LocalArchive>>();
  private scratch?: Promise<string>;

  open(file: string): Promise<LocalArchive> {
    const key = path.resolve(file);
    let archive = this.opened.get(key);
    if (!archive) {
      archive = LocalArchive.open(file, () => (this.scratch ??= mkdtemp(path.join(os.tmpdir(), 'airpack-archives-'))));
      this.opened.set(key, archive);
    }
    return archive;
  }

  async cleanup(): Promise<void> {
    if (this.scratch) await rm(await this.scratch, { recursive: true, force: true });
  }
}

function nameOf(image: ArchiveImage, index: number): string {
  return image.names[0] ?? image.repoTags[0] ?? image.digest ?? `image ${index + 1}`;
}

/**
 * The images `input` names, per requested platform: all the archive holds,
 * or the one NAME picks. Every image needs a name for the output; an archive
 * that leaves one unnamed must be given it (`docker-archive:PATH:NAME`).
 */
export async function resolveArchiveInput(archives: LocalArchives, input: ArchiveInput, specs: readonly PlatformSpec[]): Promise<Resolution> {
  const archive = await archives.open(input.archive);
  const images = await archive.images();
  if (images.length === 0) throw new AirpackError('ARCHIVE_INVALID', `${archive.path}: holds no images`);
  let chosen: Array<{ image: ArchiveImage; name: Reference }>;
  if (input.name) {
    const want = input.name;
    const matched = images.filter((i) => imageMatches(i, want));
    if (matched.length > 0) chosen = matched.map((image) => ({ image, name: want }));
    else if (images.length === 1 && (images[0] as ArchiveImage).names.length === 0) chosen = [{ image: images[0] as ArchiveImage, name: want }];
    else {
      const held = images.map((i, n) => nameOf(i, n)).join(', ');
      throw new AirpackError('NOT_FOUND', `${archive.path}: holds no image ${formatReference(want)} [it holds: ${held}]`);
    }
  } else {
    chosen = [];
    images.forEach((image, n) => {
      if (image.names.length === 0) {
        throw new AirpackError(
          'INVALID_ARGUMENT',
          `${archive.path}: ${nameOf(image, n)} has no name to give it in the output; name it: docker-archive:${archive.path}:NAME`,
        );
      }
      for (const name of new Set(image.names)) chosen.push({ image, name: parseReference(name) });
    });
  }

  const resolution: Resolution = { images: [], missing: [] };
  for (const { image, name } of chosen) {
    const label = formatReference(name);
    let source: ManifestSource;
    let located: Map<string, Located> | undefined;
    if (image.digest) {
      const top = { digest: image.digest, ...(image.mediaType ? { mediaType: image.mediaType } : {}) };
      source = {
        top: () => archive.manifest(top as Descriptor, `manifest of ${label}`),
        child: (digest) => archive.manifest({ digest } as Descriptor, `manifest of ${label}`),
        config: (desc, what) => archive.blobBytes(desc, what),
      };
    } else {
      ({ source, located } = await archive.dockerOnly(image, label));
    }
    const r = await resolveFrom(name, specs, source);
    for (const resolved of r.images) resolved.sources = (desc) => archive.sources(desc, located);
    resolution.images.push(...r.images);
    resolution.missing.push(...r.missing);
  }
  return resolution;
}
