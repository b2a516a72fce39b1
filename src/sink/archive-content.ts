/**
 * From fetched images to archive content: the index.json entries with their
 * name annotations, docker's manifest.json entries with RepoTags, and the
 * list of blobs in the order they go into the tar.
 *
 * Names: a tagged reference gets RepoTags [`familiar:tag`] and the
 * annotations `io.containerd.image.name` (full name) and
 * `org.opencontainers.image.ref.name` (the tag), as Docker 25 writes them. A
 * digest-only reference gets no invented tag: empty RepoTags, and its name
 * only in `io.containerd.image.name`. When the images of one reference are
 * every child of the source's index, that index is kept byte for byte
 * (source-index.ts); other platforms of one reference are gathered under a
 * new OCI index holding just those children.
 *
 * Source digests: where an index.json entry's digest is not what the
 * reference resolved to (a new index; one platform picked from an index,
 * whose entry is its manifest, so it carries the index digest; a rewritten
 * lone manifest), that one goes into `Annotation.sourceDigest` on the entry;
 * a manifest rewritten for uncompressed layers keeps its served digest in
 * `Annotation.sourceManifestDigest` on its descriptor. So `find NAME@DIGEST`
 * answers by the registry's digests too.
 */
import type { ArchiveBlob, ArchiveContent, ArchiveImageEntry } from '../archive/image-archive.js';
import { blobPath } from '../archive/image-archive.js';
import { familiarName, formatReference } from '../ref/reference.js';
import { sha256Digest } from '../registry/client.js';
import { Annotation, MediaType } from '../spec/media-types.js';
import { orderLayers } from './layer-order.js';
import type { Descriptor, DockerManifestEntry, ImageIndex } from '../spec/types.js';
import type { FetchedImage } from './image-sink.js';
import { completeSourceIndex } from './source-index.js';

function nameAnnotations(image: FetchedImage): Record<string, string> {
  const ref = image.source.ref;
  const annotations: Record<string, string> = { [Annotation.containerdImageName]: formatReference(ref) };
  if (ref.tag !== undefined) annotations[Annotation.refName] = ref.tag;
  return annotations;
}

/** The digest the reference resolved to in its source: the index a platform was chosen from, or the lone manifest. */
function sourceTop(image: FetchedImage): string {
  return image.source.origin?.digest ?? image.source.index?.digest ?? image.source.manifest.digest;
}

function manifestDescriptor(image: FetchedImage): Descriptor {
  const descriptor: Descriptor = { mediaType: image.manifest.mediaType, digest: image.manifest.digest, size: image.manifest.bytes.length, platform: image.source.platform };
  // Said once: a lone manifest's source digest is the entry's sourceDigest already.
  const source = image.source.origin?.manifestDigest ?? image.source.manifest.digest;
  if (source !== image.manifest.digest && source !== sourceTop(image)) descriptor.annotations = { [Annotation.sourceManifestDigest]: source };
  return descriptor;
}

/**
 * The index.json entry's annotations: its names, and the source's digest when the entry's is another
 * and the name does not say it already (`repo@sha256:...` names what it resolved to).
 */
function entryAnnotations(image: FetchedImage, descriptor: Descriptor): Record<string, string> {
  const annotations = { ...nameAnnotations(image), ...descriptor.annotations };
  const top = sourceTop(image);
  if (top !== descriptor.digest && top !== image.source.ref.digest) annotations[Annotation.sourceDigest] = top;
  return annotations;
}

function dockerEntry(image: FetchedImage): DockerManifestEntry {
  const ref = image.source.ref;
  return {
    Config: blobPath(image.source.config.digest),
    RepoTags: ref.tag !== undefined ? [`${familiarName(ref)}:${ref.tag}`] : [],
    Layers: image.layers.map((l) => blobPath(l.descriptor.digest)),
  };
}

export function assembleArchive(images: readonly FetchedImage[]): ArchiveContent {
  const entries: ArchiveImageEntry[] = [];
  const metadataBlobs: ArchiveBlob[] = [];
  const layerBlobs: ArchiveBlob[] = [];

  // Group by reference as given, keeping first-seen order: the archive's order follows the user's.
  const groups = new Map<string, FetchedImage[]>();
  for (const image of images) {
    const key = formatReference(image.source.ref);
    groups.set(key, [...(groups.get(key) ?? []), image]);
  }

  for (const group of groups.values()) {
    const first = group[0] as FetchedImage;
    for (const image of group) {
      metadataBlobs.push({ digest: image.manifest.digest, size: image.manifest.bytes.length, data: image.manifest.bytes });
      metadataBlobs.push({ digest: image.source.config.digest, size: image.source.config.bytes.length, data: image.source.config.bytes });
    }
    let descriptor: Descriptor;
    const sourceIndex = completeSourceIndex(group);
    if (sourceIndex) {
      metadataBlobs.push({ digest: sourceIndex.digest, size: sourceIndex.bytes.length, data: sourceIndex.bytes });
      descriptor = { mediaType: sourceIndex.mediaType, digest: sourceIndex.digest, size: sourceIndex.bytes.length };
      descriptor.annotations = entryAnnotations(first, descriptor);
    } else if (group.length === 1) {
      const own = manifestDescriptor(first);
      descriptor = { ...own, annotations: entryAnnotations(first, own) };
    } else {
      const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: group.map(manifestDescriptor) };
      const bytes = Buffer.from(JSON.stringify(index));
      const digest = sha256Digest(bytes);
      metadataBlobs.push({ digest, size: bytes.length, data: bytes });
      descriptor = { mediaType: MediaType.ociIndex, digest, size: bytes.length };
      descriptor.annotations = entryAnnotations(first, descriptor);
    }
    entries.push({ descriptor, docker: group.map(dockerEntry) });
  }
  // In the grouped order (the old one where no repository comes twice), versions of one image side by side.
  for (const layer of orderLayers([...groups.values()].flat())) layerBlobs.push({ digest: layer.descriptor.digest, size: layer.descriptor.size, path: layer.path });
  return { images: entries, metadataBlobs, layerBlobs };
}
