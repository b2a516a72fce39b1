/**
 * `--layers uncompressed` straight into the output: every layer is
 * decompressed to its final offset in the archive, so its bytes are written
 * once, not to a blob store first and copied after. On this project's disks
 * writing a new file costs far more than decompressing it, so this halves a
 * pull's disk writes.
 *
 * The tar's layout needs each layer's uncompressed size before any byte is
 * written. A gzip member ends with ISIZE, the uncompressed size mod 2^32:
 * one 4-byte Range request per layer predicts it. The prediction is then
 * checked like everything else (size and diff_id). A layer stored as a
 * plain tar needs no request: its size is the blob's. When it cannot be made
 * (not gzip, no Range support, a blob of 4 GiB or more) or turns out wrong
 * (several gzip members, a layer of 4 GiB or more), this gives up and the
 * caller takes the blob-store path; nothing is left behind.
 */
import { createWriteStream } from 'node:fs';
import pLimit from 'p-limit';
import { archiveParts, writeTarParts } from '../archive/image-archive.js';
import { downloadBlob } from '../blob/download.js';
import { decompressingSinkTo } from '../blob/sink.js';
import { isAirpackError } from '../errors.js';
import { formatReference } from '../ref/reference.js';
import type { Descriptor } from '../spec/types.js';
import { TempFile } from '../io/output-sink.js';
import { assembleArchive } from './assemble.js';
import { rewriteManifest, UNCOMPRESSED_LAYER_TYPE, type FetchContext, type FetchedImage, type StoredLayer } from './fetch.js';
import type { ResolvedImage } from '../source/resolve.js';
import { imageBlobSources } from '../source/registry-source.js';
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

/** Why the direct path stepped aside: the caller then pulls through the blob store. */
class NotPredictable extends Error {}

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
async function gzipTrailerSize(ctx: FetchContext, image: ResolvedImage, desc: Descriptor): Promise<number | undefined> {
  if (desc.size < 18 || desc.size >= 2 ** 32 || !GZIP_LAYER_TYPES.has(desc.mediaType)) return undefined;
  for (const source of imageBlobSources(image, desc, ctx.clientFor)) {
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
        return PLAIN_LAYER_TYPES.has(desc.mediaType) ? desc.size : gzipTrailerSize(this.ctx, image, desc);
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

/**
 * Pulls `images` with uncompressed layers into a plain tar at `output`.
 * Returns undefined, having written nothing, when the sizes cannot be
 * predicted or a prediction was wrong; throws on any other failure.
 */
export async function pullDirect(
  ctx: FetchContext,
  images: readonly ResolvedImage[],
  output: string,
  predictor: LayerSizePredictor = new LayerSizePredictor(ctx),
): Promise<FetchedImage[] | undefined> {
  const layers = await predictor.layers(images);
  if (!layers) return undefined;
  // The paths name the layers for the layout below; nothing is read from them.
  const fetched = predictedImages(images, layers, (diffId) => diffId);
  const parts = archiveParts(assembleArchive(fetched));
  const tmp = await TempFile.create({ target: output });
  try {
    // Everything but the layers now; each layer then goes to its offset as it downloads.
    const offsets = await writeTarParts(parts, tmp.fh);
    const limit = pLimit(ctx.concurrency);
    // Every download settles before the file closes: a stream still writing to a closed
    // descriptor could hit whatever file reuses that number next.
    const settled = await Promise.allSettled(
      [...layers.values()].map((layer) =>
        limit(() => {
          const at = offsets.get(layer.diffId)!;
          const what = `layer ${layer.desc.digest} of ${formatReference(layer.image.ref)}`;
          return downloadBlob(imageBlobSources(layer.image, layer.desc, ctx.clientFor), layer.desc, output, {
            what,
            onBytes: (n) => ctx.onProgress?.({ type: 'bytes', n }),
            sink: () => decompressingSinkTo(() => createWriteStream('', { fd: tmp.fh.fd, start: at, autoClose: false, highWaterMark: 1024 * 1024 }), layer.diffId, what, layer.size),
          }).catch((err: unknown) => {
            // A size other than predicted (several gzip members, 4 GiB or more): take the other path.
            if (isAirpackError(err, 'SIZE_MISMATCH')) throw new NotPredictable(err.message);
            throw err;
          });
        }),
      ),
    );
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    await tmp.commit();
    for (const image of fetched) ctx.onProgress?.({ type: 'image-done', reference: formatReference(image.source.ref), platform: `${image.source.platform.os}/${image.source.platform.architecture}` });
    return fetched;
  } catch (err) {
    await tmp.discard();
    if (err instanceof NotPredictable) return undefined;
    throw err;
  }
}
