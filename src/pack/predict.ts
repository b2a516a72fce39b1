/**
 * Predicted layer sizes, for `--layers uncompressed`: with every layer's
 * uncompressed size known before any byte is fetched, a sink lays its
 * output out at once and takes each layer as it arrives (straight to its
 * offset in a plain tar, or frame by frame into a bundle).
 *
 * The layout needs each layer's uncompressed size first. A gzip member ends with ISIZE, the uncompressed size mod 2^32:
 * one 4-byte Range request per layer predicts it. The prediction is then
 * checked like everything else (size and diff_id). A layer stored as a
 * plain tar needs no request: its size is the blob's. When it cannot be made
 * (not gzip, no Range support, a blob of 4 GiB or more) or turns out wrong
 * (several gzip members, a layer of 4 GiB or more), the pack gives up on
 * the prediction and takes the blob-store path; nothing is left behind.
 */
import pLimit from 'p-limit';
import type { Descriptor } from '../spec/types.js';
import type { FetchedImage, StoredLayer } from '../sink/image-sink.js';
import { rewriteManifest, UNCOMPRESSED_LAYER_TYPE, type FetchContext } from './fetch.js';
import type { ResolvedImage } from '../source/resolve.js';
import { MediaType } from '../spec/media-types.js';

const GZIP_LAYER_TYPES = new Set<string>([MediaType.dockerLayerGzip, MediaType.ociLayerGzip, MediaType.dockerForeignLayerGzip, MediaType.ociLayerNondistributableGzip]);
/** Layers stored as plain tars (docker save's, or an uncompressed archive's): their size is the blob's. */
const PLAIN_LAYER_TYPES = new Set<string>([MediaType.dockerLayer, MediaType.ociLayer, MediaType.ociLayerNondistributable]);

export interface Layer {
  image: ResolvedImage;
  desc: Descriptor;
  diffId: string;
  size: number;
}

/** A prediction that does not hold: the pack then goes through the blob store. */
export class NotPredictable extends Error {}

/** True for the error that says a predicted layer size was wrong (take the other path). */
export function isMisprediction(err: unknown): boolean {
  return err instanceof NotPredictable;
}

/** A layer whose size was predicted; the promise rejects with a misprediction when the stored layer differs. */
export function checkPrediction(layer: Layer, stored: Promise<StoredLayer>): Promise<StoredLayer> {
  return stored.then((s) => {
    if (s.descriptor.size !== layer.size) throw new NotPredictable(`${layer.diffId}: ${s.descriptor.size} bytes, predicted ${layer.size}`);
    return s;
  });
}

/**
 * The images as they will be written, from predicted layer sizes: manifests
 * rewritten for uncompressed layers, each layer at `pathFor(diffId)`.
 */
export function predictedImages(images: readonly ResolvedImage[], layers: ReadonlyMap<string, Layer>, pathFor: (diffId: string) => string): FetchedImage[] {
  return images.map((image) => {
    const stored: StoredLayer[] = image.parsedManifest.layers.map((_d, i) => {
      const layer = layers.get(image.config.parsed.rootfs!.diff_ids![i]!)!;
      const mediaType = UNCOMPRESSED_LAYER_TYPE[image.manifest.mediaType] ?? MediaType.ociLayer;
      return { descriptor: { mediaType, digest: layer.diffId, size: layer.size }, path: pathFor(layer.diffId) };
    });
    return { source: image, manifest: rewriteManifest(image, stored), layers: stored };
  });
}

/** The uncompressed size from the gzip trailer (ISIZE), or undefined when it cannot be read. */
async function gzipTrailerSize(image: ResolvedImage, desc: Descriptor): Promise<number | undefined> {
  if (desc.size < 18 || desc.size >= 2 ** 32 || !GZIP_LAYER_TYPES.has(desc.mediaType)) return undefined;
  for (const source of image.blobs(desc)) {
    try {
      const { body, resumed } = await source.open(desc.size - 4);
      const chunks: Buffer[] = [];
      let n = 0;
      if (resumed) {
        for await (const chunk of body as AsyncIterable<Buffer>) {
          chunks.push(chunk);
          n += chunk.length;
          if (n >= 4) break;
        }
      }
      body.destroy();
      if (n === 4) return Buffer.concat(chunks).readUInt32LE(0);
      return undefined;
    } catch {
      continue;
    }
  }
  return undefined;
}

/**
 * Starts the trailer reads as images resolve (`add`), so they overlap the
 * rest of resolving; `layers()` then has every distinct layer with its
 * predicted size, or undefined when any cannot be predicted.
 */
export class LayerSizePredictor {
  private readonly pending = new Map<string, { layer: Layer; size: Promise<number | undefined> }>();
  private readonly limit: ReturnType<typeof pLimit>;

  constructor(private readonly ctx: FetchContext) {
    this.limit = pLimit(ctx.concurrency);
  }

  add(image: ResolvedImage): void {
    image.parsedManifest.layers.forEach((desc, i) => {
      const diffId = image.config.parsed.rootfs?.diff_ids?.[i];
      if (!diffId || this.pending.has(diffId)) return;
      // A layer already stored (an earlier artifact of the same run, a kept cache) has its size on disk.
      const size = this.limit(async () => {
        if (await this.ctx.store.has(diffId)) return this.ctx.store.size(diffId);
        return PLAIN_LAYER_TYPES.has(desc.mediaType) ? desc.size : gzipTrailerSize(image, desc);
      });
      this.pending.set(diffId, { layer: { image, desc, diffId, size: -1 }, size });
    });
  }

  async layers(images: readonly ResolvedImage[]): Promise<Map<string, Layer> | undefined> {
    for (const image of images) this.add(image);
    const layers = new Map<string, Layer>();
    // In archive order: the images as given, each one's layers in manifest order.
    for (const image of images) {
      // A config that does not name every layer's diff_id: the store path reports it.
      if ((image.config.parsed.rootfs?.diff_ids?.length ?? 0) !== image.parsedManifest.layers.length) return undefined;
      for (const diffId of image.config.parsed.rootfs?.diff_ids ?? []) {
        const entry = this.pending.get(diffId);
        if (!entry || layers.has(diffId)) continue;
        const size = await entry.size;
        if (size === undefined) return undefined;
        layers.set(diffId, { ...entry.layer, size });
      }
    }
    return layers;
  }
}
