/**
 * The order layers go into an archive. Blobs may come in any order (loaders
 * find them by digest), and in a zstd bundle the order decides what the
 * compressor sees together: a long match reaches back at most the 32 MiB
 * window. Two versions of one image (`kube-apiserver:v1.31.1` and `:v1.31.2`
 * in one release) differ little layer by layer, so their layers go side by
 * side: layer 1 of each version, then layer 2 of each, and so on, instead of
 * one whole image after the other. Images are matched by repository and
 * platform (an arm64 layer holds other bytes than its amd64 sibling); the
 * first image of each repository keeps its place in the list, and an image
 * whose repository appears once keeps its layers in order, so the common
 * case is the list's order. A layer shared with an earlier image stays
 * where it first came (the archive writes each blob once).
 */
import { formatPlatform } from '../platform/platform.js';
import type { FetchedImage, StoredLayer } from './image-sink.js';

/** The images' layers, versions of one repository and platform interleaved layer by layer. */
export function orderLayers(images: readonly FetchedImage[]): StoredLayer[] {
  const families = new Map<string, FetchedImage[]>();
  for (const image of images) {
    const { registry, repository } = image.source.ref;
    const key = `${registry}/${repository} ${formatPlatform(image.source.platform)}`;
    families.set(key, [...(families.get(key) ?? []), image]);
  }
  const out: StoredLayer[] = [];
  for (const family of families.values()) {
    const depth = Math.max(...family.map((image) => image.layers.length));
    for (let i = 0; i < depth; i++) for (const image of family) if (i < image.layers.length) out.push(image.layers[i]!);
  }
  return out;
}
