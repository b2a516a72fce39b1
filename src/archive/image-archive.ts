/**
 * The image archive: one tar that is at once a docker-archive (manifest.json)
 * and an OCI image layout (oci-layout, index.json, blobs/sha256/<hex>), with
 * every blob stored once. Docker 25+, containerd `ctr images import`, podman
 * and skopeo all read this shape.
 *
 * Entry order is the point: manifest.json, index.json and oci-layout come
 * first, then every manifest, index and config, then the layers. A loader
 * that reads the first few KB knows what the archive holds. In a zstd
 * bundle those first entries get a frame of their own.
 *
 * The tar is described as a list of parts (bytes in memory, or a range of a
 * blob file) and then written as plain tar (large positional copies), gzip,
 * or zstd frames, always through a temp file renamed when complete.
 */
import { createReadStream } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { AirpackError } from '../errors.js';
import { ArchiveEntry, MediaType, OCI_LAYOUT_CONTENT } from '../spec/media-types.js';
import { digestHex, type Descriptor, type DockerManifestEntry, type ImageIndex } from '../spec/types.js';
import { writeExactly } from '../io/file-copy.js';
import { FileSink, TempFile, writeViaTempFile } from '../io/output-sink.js';
import { encodeEntryIndex, type IndexedEntry } from '../zstd/entry-index.js';
import { DEFAULT_FRAME_SIZE, DEFAULT_LEVEL, FRAME_BOUNDARY, writeZstdParts, type FrameBoundary, type StreamedPart, type ZstdFrameIndex } from '../zstd/frame-writer.js';
import { costPlanShape, planFrameEnds, planFrameEndsByCost } from './frame-plan.js';
import type { CostCurve } from '../zstd/cost-probe.js';
import { compressionForName, type ArchiveCompression } from './compression-name.js';
import { archiveMtime, encodeHeader, END_OF_ARCHIVE, padding } from './tar-header.js';

/**
 * A blob the archive holds: small JSON blobs in memory, layers as files, or
 * (zstd only) a layer whose bytes are streamed in as it is read.
 */
export type ArchiveBlob = { digest: string; size: number } & ({ data: Buffer } | { path: string; ready?: Promise<unknown> } | { streamed: StreamedPart; ready?: Promise<unknown> });

export interface ArchiveImageEntry {
  /** The index.json entry: a manifest or an index descriptor, with name annotations and platform. */
  descriptor: Descriptor;
  /** The docker manifest.json entries for this image (one per platform manifest). */
  docker: DockerManifestEntry[];
}

export interface ArchiveContent {
  images: ArchiveImageEntry[];
  /** Manifests, indexes and configs (written first, in this order). */
  metadataBlobs: ArchiveBlob[];
  /** Layers, in this order. */
  layerBlobs: ArchiveBlob[];
}


export interface WriteArchiveOptions {
  compression?: ArchiveCompression;
  /** zstd level (default 16) or gzip level (default 6). */
  level?: number;
  /** Largest zstd frame in bytes (default 256 MiB): the layers are cut by archive/frame-plan.ts. */
  frameSize?: number;
  /** Progress: `total` uncompressed tar bytes, then how many are through (compressed, or written). */
  progress?: { start(total: number): void; advance(n: number): void };
}

export interface WrittenArchive {
  /** Uncompressed tar size. */
  tarBytes: number;
  /** zstd only: the frames, as the seek table records them. */
  frames?: ZstdFrameIndex;
}

export function blobPath(digest: string): string {
  return `${ArchiveEntry.blobsDir}${digestHex(digest)}`;
}

/** index.json: what the archive holds, for OCI loaders. */
export function buildIndexJson(images: readonly ArchiveImageEntry[]): Buffer {
  const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: images.map((i) => i.descriptor) };
  return Buffer.from(JSON.stringify(index));
}

/** manifest.json: docker's list, one entry per image config, RepoTags merged. */
export function buildDockerManifestJson(images: readonly ArchiveImageEntry[]): Buffer {
  const byConfig = new Map<string, DockerManifestEntry>();
  for (const entry of images.flatMap((i) => i.docker)) {
    const seen = byConfig.get(entry.Config);
    if (seen) {
      for (const tag of entry.RepoTags ?? []) if (!seen.RepoTags?.includes(tag)) (seen.RepoTags ??= []).push(tag);
    } else {
      byConfig.set(entry.Config, { ...entry, RepoTags: [...(entry.RepoTags ?? [])] });
    }
  }
  return Buffer.from(JSON.stringify([...byConfig.values()]));
}

/**
 * A piece of the tar: bytes, a whole file, bytes streamed in (zstd only),
 * or the end of the metadata frame. A file may still be on its way: writers
 * wait for `ready` before reading it.
 */
export type TarPart = Buffer | { path: string; size: number; ready?: Promise<unknown> } | { streamed: StreamedPart; ready?: Promise<unknown> } | FrameBoundary;

function partSize(part: TarPart): number {
  if (isBoundary(part)) return 0;
  if (Buffer.isBuffer(part)) return part.length;
  return 'streamed' in part ? part.streamed.size : part.size;
}

/** A file part, for the writers that read files (plain and gzip tars take no streamed parts). */
function filePart(part: Exclude<TarPart, Buffer | FrameBoundary>): { path: string; size: number; ready?: Promise<unknown> } {
  if ('streamed' in part) throw new Error('image archive: a streamed layer can only go into a zstd bundle');
  return part;
}

/** The archive's tar as parts, in order, with a frame boundary before the first layer. */
export function archiveParts(content: ArchiveContent): TarPart[] {
  return archiveLayout(content).parts;
}

/** An archive's tar as parts, and where things land in it. */
export interface ArchiveLayout {
  parts: TarPart[];
  /** Where each entry's header lands (for a bundle's entry index). */
  entries: IndexedEntry[];
  /** The layers: where they begin and end, and each one's header offset (for the frame plan). */
  layers: { start: number; end: number; starts: number[] };
}

/** The parts, where each entry's header lands, and where the layers lie. */
export function archiveLayout(content: ArchiveContent): ArchiveLayout {
  const mtime = archiveMtime();
  const parts: TarPart[] = [];
  const entries: IndexedEntry[] = [];
  let offset = 0;
  const push = (part: TarPart): void => {
    parts.push(part);
    offset += partSize(part);
  };
  const header = (name: string, size: number, type: 'file' | 'directory'): void => {
    entries.push({ name, headerOffset: offset, size });
    push(encodeHeader({ name, size, type, mtime }));
  };
  const file = (name: string, data: Buffer): void => {
    header(name, data.length, 'file');
    push(data);
    push(padding(data.length));
  };
  file(ArchiveEntry.dockerManifest, buildDockerManifestJson(content.images));
  file(ArchiveEntry.ociIndex, buildIndexJson(content.images));
  file(ArchiveEntry.ociLayout, Buffer.from(OCI_LAYOUT_CONTENT));
  header('blobs/', 0, 'directory');
  header(ArchiveEntry.blobsDir, 0, 'directory');
  const written = new Set<string>();
  const blobs = [...content.metadataBlobs, ...content.layerBlobs];
  const layers = { start: 0, end: 0, starts: [] as number[] };
  for (const [i, blob] of blobs.entries()) {
    // The first frame ends before the first layer: manifests, indexes and configs (a few KB
    // an image) are all a reader needs to name the images, their platforms and os.version.
    if (i === content.metadataBlobs.length) {
      push(FRAME_BOUNDARY);
      layers.start = offset;
    }
    if (written.has(blob.digest)) continue;
    written.add(blob.digest);
    if (i >= content.metadataBlobs.length) layers.starts.push(offset);
    if ('data' in blob) {
      file(blobPath(blob.digest), blob.data);
    } else {
      header(blobPath(blob.digest), blob.size, 'file');
      push('streamed' in blob ? { streamed: blob.streamed, ...(blob.ready ? { ready: blob.ready } : {}) } : { path: blob.path, size: blob.size, ...(blob.ready ? { ready: blob.ready } : {}) });
      push(padding(blob.size));
    }
  }
  if (content.layerBlobs.length === 0) {
    push(FRAME_BOUNDARY);
    layers.start = offset;
  }
  layers.end = offset;
  push(END_OF_ARCHIVE);
  return { parts, entries, layers };
}

function isBoundary(part: TarPart): part is FrameBoundary {
  return !Buffer.isBuffer(part) && 'boundary' in part;
}

/** The parts as a byte stream (files read in large chunks, each up to its size), boundaries dropped. */
export async function* tarPartStream(parts: readonly TarPart[]): AsyncGenerator<Buffer> {
  for (const part of parts) {
    if (isBoundary(part)) {
      continue;
    } else if (Buffer.isBuffer(part)) {
      if (part.length > 0) yield part;
    } else {
      const file = filePart(part);
      await file.ready;
      if (file.size === 0) continue;
      for await (const chunk of createReadStream(file.path, { highWaterMark: 4 * 1024 * 1024, end: file.size - 1 })) yield chunk as Buffer;
    }
  }
}

function tarSize(parts: readonly TarPart[]): number {
  return parts.reduce((n, p) => n + partSize(p), 0);
}

async function writePlain(parts: readonly TarPart[], tmp: TempFile, progress: WriteArchiveOptions['progress']): Promise<void> {
  const sink = new FileSink(tmp.fh);
  for (const part of parts) {
    if (isBoundary(part)) continue;
    progress?.advance(partSize(part));
    if (Buffer.isBuffer(part)) {
      await sink.write(part);
      continue;
    }
    const file = filePart(part);
    await file.ready;
    const src = await open(file.path, 'r');
    try {
      await sink.copyFrom(src, 0, file.size);
    } finally {
      await src.close();
    }
  }
  await sink.flush();
}

/**
 * Writes the in-memory parts of a plain tar at their offsets in `fh`,
 * leaving a hole for each file part; returns where each file part (by its
 * path) starts, for a writer that fills them in itself.
 */
export async function writeTarParts(parts: readonly TarPart[], fh: FileHandle): Promise<Map<string, number>> {
  const offsets = new Map<string, number>();
  let pos = 0;
  let run: Buffer[] = [];
  let runStart = 0;
  const flush = async (): Promise<void> => {
    const buf = Buffer.concat(run);
    if (buf.length > 0) await writeExactly(fh, buf, buf.length, runStart);
    run = [];
  };
  for (const part of parts) {
    if (isBoundary(part)) continue;
    if (Buffer.isBuffer(part)) {
      if (run.length === 0) runStart = pos;
      run.push(part);
      pos += part.length;
      continue;
    }
    await flush();
    const file = filePart(part);
    offsets.set(file.path, pos);
    pos += file.size;
  }
  await flush();
  return offsets;
}

/**
 * Write the archive to `output` through a temp file in the same directory,
 * renamed into place only when complete.
 */
export async function writeImageArchive(output: string, content: ArchiveContent, options: WriteArchiveOptions = {}): Promise<WrittenArchive> {
  const compression = options.compression ?? compressionForName(output);
  const { parts, entries, layers } = archiveLayout(content);
  const tarBytes = tarSize(parts);
  options.progress?.start(tarBytes);
  if (compression === 'zstd') {
    // writeZstdParts does its own temp file and rename; its workers read the blob files.
    const frameSize = options.frameSize ?? DEFAULT_FRAME_SIZE;
    const plan = { start: layers.start, end: layers.end, layerStarts: layers.starts, frameSize };
    // Frames of equal work where there are several big ones (archive/frame-plan.ts), else of equal bytes.
    const shape = costPlanShape({ ...plan, level: options.level ?? DEFAULT_LEVEL });
    const frames = await writeZstdParts(parts, output, {
      ...(options.level !== undefined ? { level: options.level } : {}),
      frameSize,
      ...(shape
        ? { costPlan: { start: plan.start, end: plan.end, earliestFirstEnd: shape.earliestFirstEnd, choose: (curve: CostCurve) => planFrameEndsByCost(plan, curve) } }
        : { frameEnds: planFrameEnds(plan) }),
      ...(options.progress ? { onInput: options.progress.advance } : {}),
      tail: encodeEntryIndex(entries),
    });
    return { tarBytes, frames };
  }
  if (compression === 'gzip') {
    const counted = async function* (): AsyncGenerator<Buffer> {
      for await (const chunk of tarPartStream(parts)) {
        options.progress?.advance(chunk.length);
        yield chunk;
      }
    };
    await writeViaTempFile(output, (out) => pipeline(Readable.from(counted()), createGzip({ level: options.level ?? 6 }), out));
    return { tarBytes };
  }
  const tmp = await TempFile.create({ target: output });
  try {
    await writePlain(parts, tmp, options.progress);
    await tmp.commit();
    return { tarBytes };
  } catch (err) {
    await tmp.discard();
    throw err;
  }
}
