/**
 * The image archive: one tar that is at once a docker-archive (manifest.json)
 * and an OCI image layout (oci-layout, index.json, blobs/sha256/<hex>), with
 * every blob stored once. Docker 25+, containerd `ctr images import`, podman
 * and skopeo all read this shape.
 *
 * Entry order is the point: manifest.json, index.json and oci-layout come
 * first, then every manifest, index and config, then the layers. A loader
 * that reads the first few KB knows what the archive holds.
 */
import { rename, rm } from 'node:fs/promises';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ArchiveEntry, MediaType, OCI_LAYOUT_CONTENT } from '../spec/media-types.js';
import { digestHex, type Descriptor, type DockerManifestEntry, type ImageIndex } from '../spec/types.js';
import { DeterministicTar } from './tar-writer.js';

/** A blob the archive holds: small JSON blobs in memory, layers as files. */
export type ArchiveBlob = { digest: string; size: number } & ({ data: Buffer } | { path: string });

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
 * Write the archive to `output` through a temp file in the same directory,
 * renamed into place only when complete.
 */
export async function writeImageArchive(output: string, content: ArchiveContent): Promise<void> {
  const tmp = path.join(path.dirname(output), `.${path.basename(output)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const tarball = new DeterministicTar(createWriteStream(tmp));
    await writeEntries(tarball, content);
    await tarball.finish();
    await rename(tmp, output);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

async function writeEntries(tarball: DeterministicTar, content: ArchiveContent): Promise<void> {
  await tarball.file(ArchiveEntry.dockerManifest, buildDockerManifestJson(content.images));
  await tarball.file(ArchiveEntry.ociIndex, buildIndexJson(content.images));
  await tarball.file(ArchiveEntry.ociLayout, OCI_LAYOUT_CONTENT);
  await tarball.directory('blobs/');
  await tarball.directory(ArchiveEntry.blobsDir);
  const written = new Set<string>();
  for (const blob of [...content.metadataBlobs, ...content.layerBlobs]) {
    if (written.has(blob.digest)) continue;
    written.add(blob.digest);
    if ('data' in blob) await tarball.file(blobPath(blob.digest), blob.data);
    else await tarball.fileFrom(blobPath(blob.digest), blob.path, blob.size);
  }
}
