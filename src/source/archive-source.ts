/**
 * Images from archives on disk instead of a registry: docker-archive tars
 * (docker save, crane, skopeo, buildx type=docker), OCI layout tars (buildx
 * type=oci, skopeo oci-archive), airpack's own archives and bundles, and OCI
 * layout directories. They resolve like registry images, with the same
 * platform choice, and their blobs are read from the archive and verified
 * against their digests on the way into the output, as downloads are.
 *
 * Random access is archive-file.ts's: an airpack bundle is read in place,
 * a plain tar at its offsets, a directory by its files; only a gzip or
 * one-frame zstd tar (or bzip2, lz4, xz) is decompressed once into a scratch
 * file. An image that index.json does not list (docker save before Docker
 * 25, crane) gets a docker manifest rebuilt from its config and layer files,
 * as `docker load` does (the one place that does it); its digest is then new.
 *
 * Selection follows skopeo: NAME picks by name or digest (a digest of one
 * platform's manifest picks that manifest), `@N` the Nth manifest.json item,
 * a bare tag the image with that `org.opencontainers.image.ref.name`.
 */
import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { scratchDirectory } from '../io/cleanup.js';
import os from 'node:os';
import path from 'node:path';
import { layerCompression } from '../blob/decompress.js';
import type { BlobSource } from '../blob/download.js';
import { checkDigest } from '../blob/verify.js';
import { AirpackError } from '../errors.js';
import { describeArchiveImages, imageMatches, type ArchiveDocuments, type ArchiveImage } from '../image/describe.js';
import { entryName } from '../tar/names.js';
import { dockerManifestFor } from '../image/docker-manifest.js';
import { blobEntryName, isIndexType, manifestOrUndefined, parseDockerManifest, parseIndex, parseJson, safeEntryPath } from '../image/documents.js';
import { formatPlatform, isAttestation, type PlatformSpec } from '../platform/platform.js';
import type { ArchiveInput } from '../ref/input.js';
import { formatReference, parseReference, type Reference } from '../ref/reference.js';
import { sha256Digest, type FetchedManifest } from '../registry/client.js';
import { ArchiveEntry, MediaType } from '../spec/media-types.js';
import type { Descriptor, DockerManifestEntry, ImageConfig, ImageManifest } from '../spec/types.js';
import { ArchiveFile, type Located } from './archive-file.js';
import { resolveFrom, type ManifestSource, type Resolution, type ResolvedImage } from './resolve.js';
import { urlSource } from './registry-source.js';

/** Largest JSON document (manifest, index, config) read into memory. */
const MAX_JSON = 8 * 1024 * 1024;

/** An archive file or OCI layout directory, indexed for random access. */
export class LocalArchive {
  private described?: Promise<ArchiveImage[]>;
  private dockerManifest?: DockerManifestEntry[];
  private readonly files = new Map<string, Buffer>();

  /** The path as given, for messages. */
  readonly path: string;

  private constructor(private readonly file: ArchiveFile) {
    this.path = file.path;
  }

  /** Opens `file` (a tar, plain or compressed, a bundle, or a directory); see ArchiveFile for how each is read. */
  static async open(file: string, readers: number, spill: () => Promise<string>): Promise<LocalArchive> {
    return new LocalArchive(await ArchiveFile.open(file, spill, readers));
  }

  /** True when the archive had to be decompressed into a scratch file to be read at random. */
  get spilled(): boolean {
    return this.file.spilled;
  }

  close(): Promise<void> {
    return this.file.close();
  }

  entry(name: string): Located | undefined {
    return this.file.locate(safeEntryPath(name, this.path));
  }

  /** A blob stored under `blobs/sha256/<hex>`. */
  blob(digest: string): Located | undefined {
    const name = blobEntryName(digest);
    return name ? this.file.locate(name) : undefined;
  }

  /** An entry's bytes (a JSON document), or undefined when the archive lacks it. */
  async read(name: string, what: string): Promise<Buffer | undefined> {
    const at = this.entry(name);
    if (!at) return undefined;
    if (at.size > MAX_JSON) throw new AirpackError('ARCHIVE_INVALID', `${this.path}: ${what} (entry ${JSON.stringify(name)}) is ${at.size} bytes [expected at most ${MAX_JSON}]`);
    return at.read(0, at.size);
  }

  /** A blob's bytes, checked against its descriptor. */
  async blobBytes(desc: { digest: string; size: number }, what: string): Promise<Buffer> {
    const name = blobEntryName(desc.digest);
    const data = name ? await this.read(name, what) : undefined;
    if (!data) throw new AirpackError('ARCHIVE_INVALID', `${this.path}: ${what} ${desc.digest} is not in the archive`);
    checkDigest(`${this.path}: ${what} ${desc.digest}`, desc, { digest: sha256Digest(data), size: data.length });
    return data;
  }

  /** A manifest or index by digest, checked, with its media type (from the document when the descriptor has none). */
  async manifest(desc: { digest: string; mediaType?: string; size?: number }, what: string): Promise<FetchedManifest> {
    const bytes = await this.blobBytes({ digest: desc.digest, size: desc.size ?? -1 }, what);
    let mediaType = desc.mediaType;
    if (!mediaType) {
      const doc = parseJson<{ mediaType?: string; manifests?: unknown }>(bytes, `${this.path}: ${what} ${desc.digest}`);
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
    const missing: string[] = [];
    const keep = async (name: string | undefined): Promise<Buffer | undefined> => {
      if (!name || this.files.has(name)) return name ? this.files.get(name) : undefined;
      const data = await this.read(name, name);
      if (data) this.files.set(name, data);
      else missing.push(name);
      return data;
    };
    const visit = async (d: Descriptor, depth: number): Promise<void> => {
      if (isAttestation(d.platform) || depth > 4) return;
      const data = await keep(blobEntryName(d.digest));
      if (!data) return;
      if (isIndexType(d.mediaType) || (!d.mediaType && data.includes('"manifests"'))) {
        for (const c of parseIndex(data, `${this.path}: index ${d.digest}`).manifests) await visit(c, depth + 1);
      } else {
        // Only what describing needs: a malformed manifest is refused, naming its fault, when an image resolves.
        const m = manifestOrUndefined(data);
        if (m) await keep(blobEntryName(m.config.digest));
      }
    };
    for (const d of index?.manifests ?? []) await visit(d, 0);
    for (const e of this.dockerManifest ?? []) await keep(entryName(e.Config));
    const meta: ArchiveDocuments = { files: this.files, missing };
    if (index) meta.index = index;
    if (this.dockerManifest) meta.dockerManifest = this.dockerManifest;
    return describeArchiveImages(meta);
  }

  /** Where to read each blob from: the archive, else (foreign layers left out) the descriptor's URLs. */
  sources(desc: Descriptor, located?: ReadonlyMap<string, Located>): BlobSource[] {
    const at = located?.get(desc.digest) ?? this.blob(desc.digest);
    const out: BlobSource[] = [];
    if (at && at.size !== desc.size) {
      // Damage, not a broken transfer: say so at once instead of retrying.
      const problem = new AirpackError('SIZE_MISMATCH', `${this.path}: blob ${desc.digest} is ${at.size} bytes in the archive [expected ${desc.size}]`);
      return [{ name: this.path, open: () => Promise.reject(problem) }];
    }
    if (at) out.push(rangeSource(at));
    out.push(...(desc.urls ?? []).filter((u) => /^https?:\/\//i.test(u)).map((u) => urlSource(u)));
    if (out.length === 0) {
      // A blob the manifest names and the archive lacks, with nowhere else to get it: the archive is incomplete.
      const problem = new AirpackError('ARCHIVE_INVALID', `${this.path}: blob ${desc.digest} (${desc.mediaType}) is not in the archive, and its descriptor names no URL to fetch it from`);
      out.push({ name: this.path, open: () => Promise.reject(problem) });
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
    const config = parseJson<ImageConfig>(configBytes, `${what}: config ${JSON.stringify(entry.Config)}`);
    const diffIds = config.rootfs?.diff_ids ?? [];
    if (diffIds.length !== entry.Layers.length) {
      throw new AirpackError('ARCHIVE_INVALID', `${what}: ${entry.Layers.length} layers, but its config lists ${diffIds.length} rootfs.diff_ids [expected one per layer]`);
    }
    const located = new Map<string, Located>();
    const layers: Descriptor[] = [];
    for (const [i, layerPath] of entry.Layers.entries()) {
      const at = this.entry(layerPath);
      if (!at) throw new AirpackError('ARCHIVE_INVALID', `${what}: layer ${JSON.stringify(layerPath)} is not in the archive`);
      const kind = layerCompression(await at.read(0, Math.min(4, at.size)));
      // A plain layer tar is its own diff_id (checked when it is copied); a compressed one must be hashed.
      const digest = kind === 'none' ? (diffIds[i] as string) : await hashLocated(at);
      const mediaType = kind === 'gzip' ? MediaType.dockerLayerGzip : kind === 'zstd' ? MediaType.ociLayerZstd : MediaType.dockerLayer;
      layers.push({ mediaType, digest, size: at.size });
      located.set(digest, at);
    }
    // The config is read by its digest too (push sends it as a blob): docker names it `<hex>.json`, not blobs/sha256/<hex>.
    const configAt = this.entry(entry.Config);
    if (configAt) located.set(sha256Digest(configBytes), configAt);
    const manifest = dockerManifestFor(configBytes, layers);
    return {
      located,
      source: {
        blobs: (desc) => this.sources(desc, located),
        top: async () => manifest,
        child: (digest) => Promise.reject(new AirpackError('ARCHIVE_INVALID', `${what}: no index holds ${digest}`)),
        config: async () => configBytes,
      },
    };
  }
}

async function hashLocated(at: Located): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of at.stream(0)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

/** A name the archive gives an image: one that is no reference is the archive's fault (exit 4), not the user's. */
function archiveName(name: string, archive: string): Reference {
  try {
    return parseReference(name);
  } catch (err) {
    throw new AirpackError('ARCHIVE_INVALID', `${archive}: image name ${JSON.stringify(name)} is not an image reference (${(err as Error).message})`, { cause: err });
  }
}

/** A blob in an archive: any offset can be read, so a "resume" always continues. */
function rangeSource(at: Located): BlobSource {
  return { name: at.source, local: true, open: async (offset) => ({ body: at.stream(offset), resumed: true }) };
}

/** The archives of one run, each opened once, with the scratch space their decompressed copies take. */
export class LocalArchives {
  private readonly opened = new Map<string, Promise<LocalArchive>>();
  private scratch?: string;
  private forgetScratch: () => void = () => {};
  private closed = false;

  /**
   * `readers`: decoders per bundle (see bundle-readers.ts for what each
   * user takes and why).
   */
  constructor(private readonly readers = 1) {}

  open(file: string): Promise<LocalArchive> {
    if (this.closed) return Promise.reject(new AirpackError('INVALID_ARGUMENT', `${file}: the run is over; archives can no longer be opened`));
    const key = path.resolve(file);
    let archive = this.opened.get(key);
    if (!archive) {
      archive = LocalArchive.open(file, this.readers, async () => {
        if (this.closed) throw new AirpackError('INVALID_ARGUMENT', `${file}: the run is over; archives can no longer be opened`);
        if (this.scratch === undefined) {
          const dir = scratchDirectory(path.join(os.tmpdir(), 'airpack-archives-'));
          this.forgetScratch = dir.forget;
          this.scratch = dir.path;
        }
        return this.scratch;
      });
      this.opened.set(key, archive);
    }
    return archive;
  }

  /** The archives that had to be decompressed into a scratch file to be read at random (gzip, one-frame zstd, bzip2, lz4, xz). */
  async spilled(): Promise<string[]> {
    const out: string[] = [];
    for (const opened of await Promise.allSettled(this.opened.values())) if (opened.status === 'fulfilled' && opened.value.spilled) out.push(opened.value.path);
    return out;
  }

  /** Removes the decompressed copies, once every open still running has settled. */
  async cleanup(): Promise<void> {
    this.closed = true;
    for (const opened of await Promise.allSettled(this.opened.values())) if (opened.status === 'fulfilled') await opened.value.close();
    if (this.scratch) await rm(this.scratch, { recursive: true, force: true });
    this.forgetScratch();
  }
}

function nameOf(image: ArchiveImage, index: number): string {
  return image.names[0] ?? image.repoTags[0] ?? (image.refTag ? `${image.refTag} (a bare tag)` : undefined) ?? image.digest ?? `image ${index + 1}`;
}

/** What the user would write for this archive, for hints. */
function inputText(input: ArchiveInput): string {
  return `${input.transport ?? 'docker-archive'}:${input.archive}`;
}

/** The images of `archive` that `input` takes, each with the name it gets in the output. */
export interface Choice {
  chosen: Array<{ image: ArchiveImage; name: Reference }>;
  /** Images the input takes that carry no name for the output; `unnamedError` says how to give them one. */
  unnamed?: ArchiveImage[];
  unnamedError?: AirpackError;
}

export async function chooseImages(archive: LocalArchive, input: ArchiveInput): Promise<Choice> {
  let images = await archive.images();
  if (images.length === 0) throw new AirpackError('ARCHIVE_INVALID', `${archive.path}: holds no images`);
  const held = (): string => images.map((i, n) => nameOf(i, n)).join(', ');
  // skopeo's selectors: `@N` (the Nth manifest.json item) and a bare ref.name tag (`oci:DIR:3.10`).
  if (input.item !== undefined) {
    const item = input.item;
    const items = images.flatMap((i) => i.dockerItems);
    images = images.filter((i) => i.dockerItems.includes(item));
    if (items.length === 0) throw new AirpackError('NOT_FOUND', `${archive.path}: @${item} picks an item of docker's manifest.json, and this archive has none [name the image instead]`);
    if (images.length === 0) throw new AirpackError('NOT_FOUND', `${archive.path}: has no manifest.json item @${item} [expected @0 to @${Math.max(...items)}]`);
  } else if (input.refTag !== undefined) {
    const tag = input.refTag;
    const all = images;
    images = images.filter((i) => i.refTag === tag || i.names.some((n) => n.endsWith(`:${tag}`)));
    // `oci:DIR:busybox` may mean a name, as docker-archive: takes it: try that before giving up.
    if (images.length === 0) {
      const asName = parseReference(tag);
      images = all.filter((i) => imageMatches(i, asName));
      if (images.length > 0) return { chosen: images.map((image) => ({ image, name: asName })) };
    }
    if (images.length === 0) throw new AirpackError('NOT_FOUND', `${archive.path}: holds no image tagged ${tag} [it holds: ${all.map((i, n) => (i.refTag ? `${i.refTag} (${nameOf(i, n)})` : nameOf(i, n))).join(', ')}]`);
  }
  const unnamed = images.filter((i) => i.names.length === 0);
  if (input.name) {
    const want = input.name;
    const matched = images.filter((i) => imageMatches(i, want));
    if (matched.length > 0) return { chosen: matched.map((image) => ({ image, name: want })) };
    if (images.length === 1 && unnamed.length === 1) return { chosen: [{ image: unnamed[0] as ArchiveImage, name: want }] };
    throw new AirpackError('NOT_FOUND', `${archive.path}: holds no image ${formatReference(want)} [it holds: ${held()}]`);
  }
  const chosen = images.flatMap((image) => [...new Set(image.names)].map((name) => ({ image, name: archiveName(name, archive.path) })));
  if (unnamed.length === 0) return { chosen };
  const tag = unnamed[0]?.refTag ?? '1.0';
  const how =
    images.length === 1 && input.refTag === undefined
      ? `give it one: ${inputText(input)}:NAME, e.g. ${inputText(input)}:registry.example.com/app:${tag}`
      : `pick each by digest and name it: ${inputText(input)}:NAME@${unnamed[0]?.digest ?? 'sha256:…'}, e.g. ${inputText(input)}:registry.example.com/app:${tag}@${unnamed[0]?.digest ?? 'sha256:…'}`;
  return {
    chosen,
    unnamed,
    unnamedError: new AirpackError('INVALID_ARGUMENT', `${archive.path}: ${unnamed.length === 1 ? 'an image has no name to give it' : `${unnamed.length} images have no name to give them`} in the output; ${how}`),
  };
}

/**
 * The origin's digests an archive recorded for `image` (see ResolvedImage.origin): the source
 * annotations airpack wrote, or the digest of a `repo@sha256:...` name that is none of the
 * archive's own (a digest-only reference whose manifests were rewritten or regathered: the name
 * says what it resolved to at the origin). A name pinned to one of the archive's own child
 * manifests resolved to that manifest here, and has no origin digest of its own.
 */
function recordOrigin(resolved: ResolvedImage, image: ArchiveImage, name: Reference): void {
  const children = image.platforms.map((p) => p.manifestDigest);
  const digest = name.digest === undefined || name.digest === image.digest ? image.sourceDigest : children.includes(name.digest) ? undefined : name.digest;
  const manifestDigest = image.platforms.find((p) => p.manifestDigest === resolved.manifest.digest)?.sourceDigest;
  if (digest || manifestDigest) resolved.origin = { ...(digest ? { digest } : {}), ...(manifestDigest ? { manifestDigest } : {}) };
}

/**
 * Several index.json entries under one name (one manifest per platform, as
 * some tools write them) answer the platforms together: a platform is
 * missing only when none of them has it.
 */
function mergeResolutions(ref: Reference, label: string, specs: readonly PlatformSpec[], results: readonly Resolution[]): Resolution {
  const served = new Set<PlatformSpec>();
  const images: ResolvedImage[] = [];
  for (const image of results.flatMap((r) => r.images)) {
    image.specs = image.specs.filter((s) => !served.has(s));
    if (image.specs.length === 0) continue;
    for (const s of image.specs) served.add(s);
    images.push(image);
  }
  const available = [...new Set([...images.map((i) => formatPlatform(i.platform)), ...results.flatMap((r) => r.missing.flatMap((m) => m.available))])];
  return { images, missing: specs.filter((s) => !served.has(s)).map((spec) => ({ ref, label, spec, available })) };
}

/**
 * The images `input` names, per requested platform: all the archive holds,
 * or the one NAME picks. Every image needs a name for the output; an archive
 * that leaves one unnamed must be given it (`docker-archive:PATH:NAME`).
 */
export async function resolveArchiveInput(archives: LocalArchives, input: ArchiveInput, specs: readonly PlatformSpec[]): Promise<Resolution> {
  const archive = await archives.open(input.archive);
  const choice = await chooseImages(archive, input);
  const groups = new Map<string, { name: Reference; images: ArchiveImage[]; label?: string }>();
  for (const { image, name } of choice.chosen) {
    const key = formatReference(name);
    const group = groups.get(key) ?? { name, images: [] };
    group.images.push(image);
    groups.set(key, group);
  }
  // Unnamed images are resolved too, under the input's own text, so that a fault in them
  // (damage, an artifact) is the answer; only a sound image is then refused for want of a name.
  for (const [i, image] of (choice.unnamed ?? []).entries()) {
    groups.set(`\0unnamed ${i}`, { name: parseReference(`unnamed-${i}`), images: [image], label: `${inputText(input)}${image.refTag ? `:${image.refTag}` : ''}` });
  }
  const resolution: Resolution = { images: [], missing: [] };
  for (const { name, images, label: given } of groups.values()) {
    const label = given ?? formatReference(name);
    const results: Resolution[] = [];
    for (const image of images) {
      let source: ManifestSource;
      if (image.digest) {
        // A digest pin on one child of an index (`oci:DIR:name@sha256:<arm64 child>`) names that manifest, not the index.
        // So does the source digest airpack recorded for a child it rewrote.
        const pinned = name.digest !== undefined && name.digest !== image.digest ? image.platforms.find((p) => p.manifestDigest === name.digest || p.sourceDigest === name.digest)?.manifestDigest : undefined;
        const top = pinned ? { digest: pinned } : { digest: image.digest, ...(image.mediaType ? { mediaType: image.mediaType } : {}) };
        source = {
          top: () => archive.manifest(top, `manifest of ${label}`),
          child: (digest) => archive.manifest({ digest }, `manifest of ${label}`),
          config: (desc, what) => archive.blobBytes(desc, what),
          // docker save from containerd's store keeps the whole index but only the local platform's blobs.
          has: (digest) => archive.blob(digest) !== undefined,
          blobs: (desc) => archive.sources(desc),
        };
      } else {
        ({ source } = await archive.dockerOnly(image, label));
      }
      const resolved = await resolveFrom(name, specs, source, label);
      if (image.digest) for (const r of resolved.images) recordOrigin(r, image, name);
      results.push(resolved);
    }
    const merged = mergeResolutions(name, label, specs, results);
    if (given !== undefined && merged.images.length > 0) throw choice.unnamedError!;
    resolution.images.push(...merged.images);
    resolution.missing.push(...merged.missing);
  }
  return resolution;
}
