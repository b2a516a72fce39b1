/**
 * The pack pipeline, one for `pull` and `bundle` alike:
 *
 *   sources -> resolve (manifests and configs, per platform)
 *           -> fetch and verify (every blob once, in parallel)
 *           -> sink (image archive, zstd bundle; registry next)
 *
 * With `--layers uncompressed` and a sink that can use them, every layer's
 * uncompressed size is predicted while the images resolve (pack/predict.ts);
 * the sink then lays its output out at once and takes each layer as it
 * arrives, straight to its place or frame by frame. A prediction that fails
 * (or turns out wrong) falls back to fetching everything into the blob store
 * and writing after; the output is byte for byte the same either way.
 */
import type { Writable } from 'node:stream';
import pLimit from 'p-limit';
import { downloadBlob } from '../blob/download.js';
import { decompressingSinkTo, isUncompressedSizeMismatch } from '../blob/sink.js';
import { AirpackError } from '../errors.js';
import { formatPlatform, type PlatformSpec } from '../platform/platform.js';
import type { ImageInput } from '../ref/input.js';
import { formatReference } from '../ref/reference.js';
import { MediaType } from '../spec/media-types.js';
import type { FetchedImage, ImageSink, LayerMode, SinkResult, StoredLayer } from '../sink/image-sink.js';
import type { MissingPlatform, ResolvedImage } from '../source/resolve.js';
import { fetchImages, type FetchContext } from './fetch.js';
import { checkPrediction, isMisprediction, LayerSizePredictor, NotPredictable, predictedImages, type Layer } from './predict.js';
import { resolveAll, type Session } from './session.js';

export interface PackOptions {
  layers: LayerMode;
  /** Warn about and skip images that lack a requested platform instead of failing. */
  skipMissing?: boolean;
}

/** One image as packed, for results and image lists. */
export interface PackedImage {
  reference: string;
  platform: string;
  /** Manifest digest as stored in the output (differs from the source's in uncompressed mode). */
  digest: string;
  /** Manifest digest in the source (for an archive airpack wrote, the origin's it recorded: the registry's). */
  sourceDigest: string;
  /** Index digest the image was chosen from, when there was one (the same way). */
  indexDigest?: string;
  config: string;
  osVersion?: string;
  /** Bytes of config and layers as stored. */
  size: number;
}

export interface Packed {
  images: FetchedImage[];
  missing: MissingPlatform[];
  written: SinkResult;
}

const PLAIN_LAYERS: ReadonlySet<string> = new Set([MediaType.ociLayer, MediaType.ociLayerNondistributable, MediaType.dockerLayer]);

/**
 * The source's digests of an image: the origin's its archive recorded (a re-bundle of a bundle
 * reports the registry's digests, as index.json carries them), else those of what it was read from.
 */
function sourceDigests(image: ResolvedImage): Pick<PackedImage, 'sourceDigest' | 'indexDigest'> {
  const origin = image.origin;
  const manifest = origin?.manifestDigest ?? image.manifest.digest;
  const top = origin?.digest ?? image.index?.digest;
  if (top === undefined || top === manifest) return { sourceDigest: manifest };
  // A lone manifest with only what the reference resolved to recorded: a manifest airpack rewrote
  // for uncompressed layers (plain tars) that was lone at the origin too, so the digest is its own;
  // otherwise it was stored as served, picked from the index whose digest that is.
  if (!image.index && !origin?.manifestDigest && image.parsedManifest.layers.every((l) => PLAIN_LAYERS.has(l.mediaType))) return { sourceDigest: top };
  return { sourceDigest: manifest, indexDigest: top };
}

export function describeImages(images: readonly FetchedImage[]): PackedImage[] {
  return images.map((image) => {
    const out: PackedImage = {
      reference: formatReference(image.source.ref),
      platform: formatPlatform(image.source.platform),
      digest: image.manifest.digest,
      ...sourceDigests(image.source),
      config: image.source.config.digest,
      size: image.source.config.bytes.length + image.layers.reduce((n, l) => n + l.descriptor.size, 0),
    };
    const osVersion = image.source.config.parsed['os.version'] ?? image.source.platform['os.version'];
    if (osVersion) out.osVersion = osVersion;
    return out;
  });
}

/** Resolves `inputs` for `specs`, fetches every blob, verified, and writes the images to `sink`. */
export async function pack(session: Session, inputs: readonly ImageInput[], specs: readonly PlatformSpec[], sink: ImageSink, options: PackOptions): Promise<Packed> {
  const { ctx } = session;
  const predictor = options.layers === 'uncompressed' && sink.startPredicted ? new LayerSizePredictor(ctx) : undefined;
  const { images, missing } = await resolveAll(ctx, inputs, specs, options.skipMissing ?? false, predictor && ((image) => predictor.add(image)));
  if (images.length === 0) throw new AirpackError('PLATFORM_NOT_FOUND', `${sink.output}: nothing to write, no image has ${specs.map(formatPlatform).join(', ')}`);
  const totalBytes = images.reduce((n, i) => n + i.parsedManifest.layers.reduce((m, l) => m + l.size, 0), 0);
  ctx.onProgress?.({ type: 'resolved', images: images.length, totalBytes });

  const predicted = predictor ? await predictor.layers(images) : undefined;
  if (predicted) {
    const done = await packPredicted(session, images, predicted, sink);
    if (done) return { ...done, missing };
  }
  const fetched = await fetchImages(ctx, images, options.layers);
  ctx.onProgress?.({ type: 'writing', output: sink.output });
  return { images: fetched, missing, written: await sink.write(fetched) };
}

/**
 * The one place layers are written at predicted sizes: the sink says where
 * each goes (the blob store, or a stream at its place in the output), and
 * this fetches each one there, decompressing on the way. Returns undefined,
 * the sink having left nothing, when a prediction proves wrong.
 */
async function packPredicted({ ctx }: Session, images: readonly ResolvedImage[], layers: ReadonlyMap<string, Layer>, sink: ImageSink): Promise<Omit<Packed, 'missing'> | undefined> {
  const planned = predictedImages(images, layers, (diffId) => ctx.store.path(diffId));
  ctx.onProgress?.({ type: 'writing', output: sink.output });
  const write = await sink.startPredicted!(planned);
  const destinations = new Map([...layers.values()].map((l) => [l.diffId, write.destination({ diffId: l.diffId, local: l.image.blobs(l.desc)[0]?.local === true })]));
  const streamed = new Map<string, Promise<unknown>>();
  const limit = pLimit(ctx.concurrency);
  // Layers a sink takes in order come one at a time, in the order its output takes them.
  const inOrder = pLimit(1);
  const first = new Set(write.layerOrder ?? []);
  const order = [...[...first].flatMap((d) => layers.get(d) ?? []), ...[...layers.values()].filter((l) => !first.has(l.diffId))];
  for (const layer of order) {
    const dest = destinations.get(layer.diffId)!;
    if (dest.kind !== 'stream') continue;
    const what = `layer ${layer.desc.digest} of ${formatReference(layer.image.ref)}`;
    const read = (open: () => Writable, onBytes?: (n: number) => void): Promise<unknown> =>
      downloadBlob(layer.image.blobs(layer.desc), layer.desc, sink.output, {
        what,
        ...(onBytes ? { onBytes } : {}),
        sink: () => decompressingSinkTo(open, layer.diffId, what, { exactSize: layer.size, blobDigest: layer.desc.digest }),
      }).catch((err: unknown) => {
        // Plain bytes of another size than predicted (several gzip members, 4 GiB or more): take the
        // store path. Any other mismatch (a blob longer than its descriptor) is damage, and the answer.
        throw isUncompressedSizeMismatch(err) ? new NotPredictable((err as Error).message) : err;
      });
    dest.reread?.((out) => read(() => out));
    const writing = (dest.inOrder ? inOrder : limit)(() => read(dest.open, (n) => ctx.onProgress?.({ type: 'bytes', n })));
    writing.catch(() => {});
    streamed.set(layer.diffId, writing);
  }
  // Everything else goes through the store, fetched as the sink waits for it.
  const inStore = new Map<string, Promise<StoredLayer>>();
  const rest = images.filter((image) => image.config.parsed.rootfs?.diff_ids?.some((d) => !streamed.has(d)));
  const fetching = rest.length > 0 ? fetchImages(ctx, rest, 'uncompressed', inStore) : Promise.resolve([]);
  fetching.catch(() => {});
  const stored = (diffId: string): Promise<unknown> => streamed.get(diffId) ?? checkPrediction(layers.get(diffId)!, inStore.get(diffId)!);
  try {
    const written = await write.finish(stored);
    await fetching;
    for (const image of planned) ctx.onProgress?.({ type: 'image-done', reference: formatReference(image.source.ref), platform: `${image.source.platform.os}/${image.source.platform.architecture}` });
    return { images: planned, written };
  } catch (err) {
    // Nothing may still be writing when the caller moves on.
    await Promise.allSettled([...streamed.values(), fetching]);
    if (isMisprediction(err)) return undefined;
    throw err;
  }
}

export type { FetchContext };
