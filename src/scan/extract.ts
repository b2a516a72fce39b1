/**
 * `extract`: one image out of a multi-image archive, written as its own
 * image archive in the same shape `pull` writes (docker manifest.json + OCI
 * layout, metadata first), so every loader takes it. Manifests and configs
 * come from the metadata read; layers are streamed out of the archive into a
 * scratch directory beside the output (hashed on the way, checked against
 * their digests) and the walk stops after the last one it needs. The output
 * goes through a temp file renamed into place; nothing is written anywhere
 * else, whatever names the archive's entries carry.
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, existsSync, openSync, writeSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { scratchDirectory } from '../io/cleanup.js';
import { checkOutputFile } from '../io/output-path.js';
import { basename, dirname, join } from 'node:path';
import { archiveParts, writeImageArchive, type ArchiveBlob, type ArchiveContent, type WriteArchiveOptions } from '../archive/image-archive.js';
import { compressionForName } from '../archive/compression-name.js';
import { archiveMtime, encodeHeader, END_OF_ARCHIVE, padding } from '../archive/tar-header.js';
import { QueuedFileWriter, TempFile } from '../io/output-sink.js';
import type { ProgressListener } from '../progress.js';
import { sinkProgress } from '../sink/image-sink.js';
import { checkDigest } from '../blob/verify.js';
import { AirpackError } from '../errors.js';
import { formatPlatform, parsePlatform, platformMatches, selectPlatform, type Platform } from '../platform/platform.js';
import { parseReference } from '../ref/reference.js';
import type { Descriptor, DockerManifestEntry, ImageManifest } from '../spec/types.js';
import type { TarEntry } from '../tar/entry.js';
import { describeArchiveImages, imageMatches, type ArchiveImage, type ArchiveImagePlatform } from '../image/describe.js';
import { blobEntryName, checkDiffIds, hasImageConfig, parseJson, parseManifest } from '../image/documents.js';
import { MediaType } from '../spec/media-types.js';
import { openArchive } from './open.js';
import { entryName, walkArchive } from '../source/archive-walk.js';

export interface ExtractOptions {
  /** `os/arch[/variant][:osversion]`; without it every platform of the image is kept. */
  platform?: string;
  output: string;
  /** Output compression; default from the output name (`.tar.zst`, `.tgz`, else plain tar). */
  compression?: WriteArchiveOptions['compression'];
  /** Progress: a 'write' phase (plain tar) or 'compress' phase, in uncompressed bytes. */
  onProgress?: ProgressListener;
}

export interface ExtractResult {
  source: string;
  output: string;
  reference: string;
  digest: string;
  platforms: string[];
  blobs: number;
  /** Uncompressed tar size of the output. */
  tarBytes: number;
}

function toPlatform(p: ArchiveImagePlatform): Platform | undefined {
  if (!p.os || !p.architecture) return undefined;
  return { os: p.os, architecture: p.architecture, ...(p.variant ? { variant: p.variant } : {}), ...(p.osVersion ? { 'os.version': p.osVersion } : {}) };
}

/** Writes the image `reference` (one platform, or all) from `source` to `opts.output`. */
export async function extractImage(source: string, reference: string, opts: ExtractOptions): Promise<ExtractResult> {
  const ref = parseReference(reference);
  checkOutputFile(opts.output);
  const meta = await openArchive(source, { depth: 'config' });
  const images = describeArchiveImages(meta);
  const image = images.find((i) => imageMatches(i, ref));
  if (!image) throw new AirpackError('NOT_FOUND', `${source}: holds no image ${reference}`);
  if (!image.digest) return extractDockerOnly(source, reference, image, opts);
  let chosen = image.platforms.filter((p) => p.manifestDigest);
  if (opts.platform) {
    const spec = parsePlatform(opts.platform);
    const pick = selectPlatform(spec, chosen.map((p) => ({ p, platform: toPlatform(p) })).filter((c): c is { p: ArchiveImagePlatform; platform: Platform } => c.platform !== undefined));
    if (!pick) throw new AirpackError('PLATFORM_NOT_FOUND', `${source}: image ${reference} has no ${opts.platform} (it has ${image.platforms.map((p) => p.platform ?? '?').join(', ')})`);
    chosen = [pick.p];
  }
  if (chosen.length === 0) throw new AirpackError('ARCHIVE_INVALID', `${source}: image ${reference}: its manifests are not in the archive`);

  const indexEntry = meta.index?.manifests.find((d) => d.digest === image.digest);
  const annotations = indexEntry?.annotations;
  const metadataBlobs: ArchiveBlob[] = [];
  const layers: Descriptor[] = [];
  const docker: DockerManifestEntry[] = [];
  // Manifests, indexes and configs go out as read: each is checked against its digest (and size, where
  // the document that points to it says one) first, as the layers are.
  const small = (digest: string, size?: number): Buffer => {
    const name = blobEntryName(digest);
    const data = name ? meta.files.get(name) : undefined;
    if (!data) throw new AirpackError('ARCHIVE_INVALID', `${source}: blob ${digest} of ${reference} is missing from the archive`);
    checkDigest(`${source}: blob ${name}`, size === undefined ? { digest } : { digest, size }, { digest: `sha256:${createHash('sha256').update(data).digest('hex')}`, size: data.length });
    return data;
  };
  for (const p of chosen) {
    const bytes = small(p.manifestDigest!);
    const manifest: ImageManifest = parseManifest(bytes, `${source}: manifest ${p.manifestDigest}`);
    metadataBlobs.push({ digest: p.manifestDigest!, size: bytes.length, data: bytes });
    const cfg = small(manifest.config.digest, manifest.config.size);
    if (hasImageConfig(manifest)) checkDiffIds(manifest, parseJson(cfg, `${source}: config ${manifest.config.digest}`), `${source}: image ${reference} (${p.platform ?? '?'})`);
    else throw new AirpackError('UNSUPPORTED_MEDIA_TYPE', `${source}: ${reference} is not an image (config ${manifest.config.mediaType}); an image archive cannot hold it`);
    metadataBlobs.push({ digest: manifest.config.digest, size: cfg.length, data: cfg });
    for (const l of manifest.layers) if (!layers.some((x) => x.digest === l.digest)) layers.push(l);
    docker.push({ Config: blobEntryName(manifest.config.digest)!, RepoTags: image.repoTags, Layers: manifest.layers.map((l) => blobEntryName(l.digest)!) });
  }
  let descriptor: Descriptor;
  // A sparse index lists platforms the archive lacks: its bytes cannot go along.
  const whole = !image.sparse && chosen.length === image.platforms.length;
  if (whole && indexEntry && indexEntry.digest !== chosen[0]!.manifestDigest) {
    // The whole index: keep its bytes so the digest survives.
    const bytes = small(indexEntry.digest, indexEntry.size);
    metadataBlobs.unshift({ digest: indexEntry.digest, size: bytes.length, data: bytes });
    descriptor = indexEntry;
  } else if (chosen.length > 1) {
    // The platforms at hand under a new index, as pull gathers them.
    const children: Descriptor[] = chosen.map((p) => {
      const bytes = small(p.manifestDigest!);
      const mediaType = (JSON.parse(bytes.toString('utf8')) as { mediaType?: string }).mediaType ?? MediaType.ociManifest;
      const platform = toPlatform(p);
      return { mediaType, digest: p.manifestDigest!, size: bytes.length, ...(platform ? { platform } : {}) };
    });
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: children }));
    const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    metadataBlobs.unshift({ digest, size: bytes.length, data: bytes });
    descriptor = { mediaType: MediaType.ociIndex, digest, size: bytes.length, ...(annotations ? { annotations } : {}) };
  } else {
    const p = chosen[0]!;
    const bytes = small(p.manifestDigest!);
    const mediaType = (JSON.parse(bytes.toString('utf8')) as { mediaType?: string }).mediaType ?? 'application/vnd.oci.image.manifest.v1+json';
    const platform = toPlatform(p);
    descriptor = { mediaType, digest: p.manifestDigest!, size: bytes.length, ...(platform ? { platform } : {}), ...(annotations ? { annotations } : {}) };
  }

  const compression = opts.compression ?? compressionForName(opts.output);
  const result = (tarBytes: number, blobs: number): ExtractResult => ({
    source,
    output: opts.output,
    reference,
    digest: descriptor.digest,
    platforms: chosen.map((p) => p.platform ?? '?'),
    blobs,
    tarBytes,
  });
  if (compression === 'none') {
    const progress = sinkProgress(opts.onProgress, 'write', opts.output);
    const tarBytes = await writeDirect(source, opts.output, { images: [{ descriptor, docker }], metadataBlobs, layerBlobs: [] }, layers, progress);
    return result(tarBytes, metadataBlobs.length + layers.length);
  }
  const outDir = dirname(opts.output);
  const { path: scratch, forget } = scratchDirectory(join(outDir, `.${basename(opts.output)}.blobs-`));
  try {
    const wanted = new Map<string, Wanted>();
    for (const l of layers) wanted.set(blobEntryName(l.digest)!, { digest: l.digest, size: l.size });
    const got = await copyToScratch(source, wanted, scratch);
    const layerBlobs: ArchiveBlob[] = [];
    for (const l of layers) {
      const copied = got.get(blobEntryName(l.digest)!);
      if (!copied) {
        if (l.urls?.length) continue; // a foreign layer left out of the source: leave it out here too
        throw new AirpackError('ARCHIVE_INVALID', `${source}: layer ${l.digest} of ${reference} is missing from the archive`);
      }
      layerBlobs.push({ digest: l.digest, size: l.size, path: copied.file });
    }
    const content: ArchiveContent = { images: [{ descriptor, docker }], metadataBlobs, layerBlobs };
    const progress = sinkProgress(opts.onProgress, 'compress', opts.output);
    const written = await writeImageArchive(opts.output, content, { compression, ...(progress ? { progress } : {}) });
    return result(written.tarBytes, metadataBlobs.length + layerBlobs.length);
  } finally {
    await rm(scratch, { recursive: true, force: true });
    forget();
  }
}

interface Wanted {
  /** Checked when known; computed otherwise. */
  digest?: string;
  size: number;
}

interface Copied {
  file: string;
  digest: string;
  size: number;
}

/**
 * Copies the data of the entries named in `wanted` into `scratch` (files
 * named by their sha256, never by the entry name), hashing on the way, and
 * stops after the last one. Random access where the file allows it: only
 * frames holding a header or a wanted entry are decompressed.
 */
/** Where copied entry data goes. */
interface EntrySink {
  /** May return a promise: the walk waits for it before it reads on (back-pressure). */
  write(chunk: Buffer): void | Promise<void>;
  /** Called once all data passed and its digest checked. */
  end(): void;
  /** Set after `end`: the file holding the data, for scratch sinks. */
  file?: string;
}

/** A sink into a scratch file named by sequence (renamed to the digest later), never by the entry's name. */
function scratchSink(scratch: string, seq: number): EntrySink {
  const file = join(scratch, `entry-${seq}`);
  const fd = openSync(file, 'w');
  return { write: (chunk) => writeAll(fd, chunk), end: () => closeSync(fd), file };
}

function writeAll(fd: number, buf: Buffer): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}

async function copyEntries(
  source: string,
  wanted: ReadonlyMap<string, Wanted>,
  sinkFor: (entry: TarEntry, w: Wanted, seq: number) => EntrySink,
): Promise<Map<string, Copied>> {
  const got = new Map<string, Copied>();
  if (wanted.size === 0) return got;
  let seq = 0;
  let current: { entry: TarEntry; name: string; sink: EntrySink; hash: Hash; bytes: number; w: Wanted } | undefined;
  const finishCurrent = (): void => {
    if (!current) return;
    const c = current;
    const digest = `sha256:${c.hash.digest('hex')}`;
    // Still current if this throws: the walk's finally then closes its sink (a scratch file's descriptor).
    checkDigest(`${source}: entry ${JSON.stringify(c.entry.name)}`, { digest: c.w.digest ?? digest, size: c.w.size }, { digest, size: c.bytes });
    current = undefined;
    c.sink.end();
    got.set(c.name, { file: c.sink.file ?? '', digest, size: c.bytes });
  };
  const walk = await walkArchive(source, {
    // A bundle's entry index takes the walk straight to these: only the frames holding them are decoded.
    only: new Set(wanted.keys()),
    chunks: (e) => current?.entry === e,
    want: (e) => {
      finishCurrent();
      const name = entryName(e.name);
      const w = wanted.get(name);
      if (w && e.type !== 'file') {
        throw new AirpackError('ARCHIVE_INVALID', `${source}: entry ${JSON.stringify(e.name)}: expected a regular file, found a ${e.type}${e.linkname ? ` to ${JSON.stringify(e.linkname)}` : ''}`);
      }
      if (w && !got.has(name)) {
        if (w.size >= 0 && e.size !== w.size) {
          throw new AirpackError('SIZE_MISMATCH', `${source}: entry ${JSON.stringify(e.name)}: size ${e.size} bytes [expected ${w.size}]`);
        }
        current = { entry: e, name, sink: sinkFor(e, w, seq++), hash: createHash('sha256'), bytes: 0, w };
      }
      return false;
    },
    onChunk: (e, chunk) => {
      if (current?.entry !== e) return;
      current.hash.update(chunk);
      current.bytes += chunk.length;
      return current.sink.write(chunk);
    },
  });
  const it = walk.entries;
  try {
    for (;;) {
      const r = await it.next();
      if (r.done) break;
      if (current?.entry === r.value.entry) finishCurrent();
      if (got.size === wanted.size) break;
    }
  } finally {
    // On error, close a scratch file still open (its directory is removed by the caller).
    if (current) {
      try {
        current.sink.end();
      } catch {
        /* the first error is the one to report */
      }
    }
    current = undefined;
    await it.return(undefined);
  }
  return got;
}

/** Copies into scratch files, renamed to their digests. */
async function copyToScratch(source: string, wanted: ReadonlyMap<string, Wanted>, scratch: string): Promise<Map<string, Copied>> {
  const got = await copyEntries(source, wanted, (_e, _w, seq) => scratchSink(scratch, seq));
  for (const c of got.values()) {
    const to = join(scratch, c.digest.slice(7));
    if (!existsSync(to)) await rename(c.file, to);
    c.file = to;
  }
  return got;
}

/**
 * Plain tar output in one write: the metadata entries as writeImageArchive
 * lays them out, then each layer streamed from the source straight into the
 * output (in source order) with its header in front, checked against its
 * digest; a temp file renamed into place only when all is well.
 */
async function writeDirect(source: string, output: string, content: ArchiveContent, layers: readonly Descriptor[], progress: WriteArchiveOptions['progress']): Promise<number> {
  progress?.start(layers.reduce((n, l) => n + l.size, 0));
  const tmp = await TempFile.create({ target: output });
  // Writes run in the background while the next frame decodes and the layer hashes.
  const out = new QueuedFileWriter(tmp.fh);
  try {
    // Headers and padding queue behind the data; a failure surfaces at the next write or at finish().
    const put = (b: Buffer): Promise<void> => {
      const queued = out.write(b);
      queued.catch(() => {});
      return queued;
    };
    for (const part of archiveParts({ ...content, layerBlobs: [] })) {
      if (Buffer.isBuffer(part) && part !== END_OF_ARCHIVE) void put(part);
    }
    const wanted = new Map<string, Wanted>();
    for (const l of layers) wanted.set(blobEntryName(l.digest)!, { digest: l.digest, size: l.size });
    const mtime = archiveMtime();
    const got = await copyEntries(source, wanted, (_e, w) => {
      void put(encodeHeader({ name: blobEntryName(w.digest!)!, size: w.size, type: 'file', mtime }));
      return {
        write: (b: Buffer) => {
          progress?.advance(b.length);
          return put(b);
        },
        end: () => void put(padding(w.size)),
      };
    });
    for (const l of layers) {
      if (!got.has(blobEntryName(l.digest)!) && !l.urls?.length) {
        throw new AirpackError('ARCHIVE_INVALID', `${source}: layer ${l.digest} is missing from the archive`);
      }
    }
    void put(END_OF_ARCHIVE);
    await out.finish();
    await tmp.commit();
    return out.position;
  } catch (err) {
    // No write may still be running when the temp file goes.
    await out.finish().catch(() => {});
    await tmp.discard();
    throw err;
  }
}

/**
 * A docker-save-only archive (manifest.json, `<id>.json` configs, layer
 * tars, no OCI index): the image is taken as `pull docker-archive:` takes
 * it, through the archive source, which rebuilds its docker manifest from
 * the config and the layer files as docker does on load (links followed).
 */
async function extractDockerOnly(source: string, reference: string, image: ArchiveImage, opts: ExtractOptions): Promise<ExtractResult> {
  const p = image.platforms[0];
  const plat = p ? toPlatform(p) : undefined;
  if (opts.platform && (!plat || !platformMatches(parsePlatform(opts.platform), plat))) {
    throw new AirpackError('PLATFORM_NOT_FOUND', `${source}: image ${reference} has no ${opts.platform} (it has ${p?.platform ?? 'an unknown platform'})`);
  }
  const item = image.dockerItems[0];
  const { pull } = await import('../pack/pull.js');
  const pulled = await pull({
    images: [{ archive: source, ...(item !== undefined ? { item } : {}), ...(image.names.length === 0 ? { name: parseReference(reference) } : {}) }],
    platforms: [opts.platform ?? (plat ? formatPlatform(plat) : 'linux/amd64')],
    output: opts.output,
  });
  const written = pulled.images[0]!;
  // Manifest, config and each distinct layer; pull reports the file's size, which is the tar's for a plain tar.
  const blobs = 2 + (p?.layers ?? 0);
  return { source, output: opts.output, reference, digest: written.digest, platforms: [p?.platform ?? '?'], blobs, tarBytes: pulled.bytes };
}
