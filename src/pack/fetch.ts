/**
 * Fetching: every blob the resolved images need lands in the blob store,
 * verified, each distinct digest downloaded once however many images share
 * it, in parallel up to a bound. With `layers: 'uncompressed'` each layer is
 * also decompressed into the store under its diff_id, as `docker save` keeps it.
 */
import { readFile } from 'node:fs/promises';
import pLimit from 'p-limit';
import { decompressLayer } from '../blob/decompress.js';
import { downloadBlob, type BlobSource } from '../blob/download.js';
import { decompressingSink } from '../blob/sink.js';
import type { BlobStore } from '../blob/store.js';
import { AirpackError } from '../errors.js';
import type { ProgressListener } from '../progress.js';
import { formatReference } from '../ref/reference.js';
import type { RegistryClient } from '../registry/client.js';
import { MediaType } from '../spec/media-types.js';
import type { Descriptor, ImageManifest } from '../spec/types.js';
import { sha256Digest } from '../registry/client.js';
import type { LocalArchives } from '../source/archive-source.js';
import type { FetchedImage, LayerMode, StoredLayer } from '../sink/image-sink.js';
import { blobSources } from '../source/registry-source.js';
import type { ResolvedImage } from '../source/resolve.js';

export interface FetchContext {
  store: BlobStore;
  /** Archives on disk named as image inputs, each opened once (created with the first). */
  archives?: LocalArchives;
  clientFor: (registry: string) => RegistryClient;
  concurrency: number;
  onProgress?: ProgressListener | undefined;
}

/** Download a blob into the store (once), returning its path. */
export function ensureBlob(ctx: FetchContext, sources: readonly BlobSource[], desc: Descriptor, what: string): Promise<string> {
  return ctx.store.ensure(desc.digest, (tmp) =>
    downloadBlob(sources, desc, tmp, {
      what,
      onBytes: (n) => ctx.onProgress?.({ type: 'bytes', n }),
    }),
  );
}

/** Fetch a small blob (a config) through the store and return its bytes. */
export async function fetchSmallBlob(ctx: FetchContext, client: RegistryClient, repository: string, desc: Descriptor, what: string): Promise<Buffer> {
  if (desc.size > 64 * 1024 * 1024) throw new AirpackError('MANIFEST_INVALID', `${what}: ${desc.size} bytes is too large for a config`);
  return readFile(await ensureBlob(ctx, blobSources(client, repository, desc), desc, what));
}

export const UNCOMPRESSED_LAYER_TYPE: Readonly<Record<string, string>> = {
  [MediaType.dockerManifest]: MediaType.dockerLayer,
  [MediaType.ociManifest]: MediaType.ociLayer,
};

/**
 * Fetches every blob of `images`. In uncompressed mode `uncompressedOnce`
 * (pass your own to watch it) holds each distinct layer's promise by
 * diff_id, filled before this returns its promise, so a caller can start
 * on each layer as soon as it is stored.
 */
export async function fetchImages(
  ctx: FetchContext,
  images: readonly ResolvedImage[],
  mode: LayerMode,
  uncompressedOnce = new Map<string, Promise<StoredLayer>>(),
): Promise<FetchedImage[]> {
  const limit = pLimit(ctx.concurrency);

  const fetchLayer = async (image: ResolvedImage, desc: Descriptor, index: number): Promise<StoredLayer> => {
    const what = `layer ${desc.digest} of ${formatReference(image.ref)}`;
    const sources = image.blobs(desc);
    if (mode === 'original') return { descriptor: desc, path: await limit(() => ensureBlob(ctx, sources, desc, what)) };

    const diffId = image.config.parsed.rootfs?.diff_ids?.[index];
    if (!diffId) throw new AirpackError('MANIFEST_INVALID', `config of ${formatReference(image.ref)}: no rootfs.diff_ids[${index}] for ${what}`);
    let pending = uncompressedOnce.get(diffId);
    if (!pending) {
      pending = limit(async () => {
        const out = await ctx.store.ensure(diffId, async (tmp) => {
          // A compressed copy already in a kept cache is decompressed from disk; otherwise
          // the download is decompressed as it arrives and the compressed bytes are not kept.
          if (await ctx.store.has(desc.digest)) {
            await decompressLayer(ctx.store.path(desc.digest), tmp, diffId, what);
            return;
          }
          await downloadBlob(sources, desc, tmp, {
            what,
            onBytes: (n) => ctx.onProgress?.({ type: 'bytes', n }),
            sink: (file) => decompressingSink(file, diffId, what, desc.digest),
          });
        });
        const mediaType = UNCOMPRESSED_LAYER_TYPE[image.manifest.mediaType] ?? MediaType.ociLayer;
        return { descriptor: { mediaType, digest: diffId, size: await ctx.store.size(diffId) }, path: out };
      });
      uncompressedOnce.set(diffId, pending);
    }
    return pending;
  };

  return Promise.all(
    images.map(async (image) => {
      const layers = await Promise.all(image.parsedManifest.layers.map((d, i) => fetchLayer(image, d, i)));
      ctx.onProgress?.({ type: 'image-done', reference: formatReference(image.ref), platform: image.platform.os + '/' + image.platform.architecture });
      return { source: image, manifest: mode === 'original' ? image.manifest : rewriteManifest(image, layers), layers };
    }),
  );
}

/**
 * The manifest of an image whose layers are stored uncompressed: same
 * document, layer descriptors replaced (foreign URLs dropped: the bytes are here).
 */
export function rewriteManifest(image: ResolvedImage, layers: readonly StoredLayer[]): FetchedImage['manifest'] {
  const manifest: ImageManifest = { ...image.parsedManifest, layers: layers.map((l, i) => {
    const { urls: _urls, ...original } = image.parsedManifest.layers[i] as Descriptor;
    return { ...original, ...l.descriptor };
  }) };
  const bytes = Buffer.from(JSON.stringify(manifest));
  return { mediaType: image.manifest.mediaType, digest: sha256Digest(bytes), bytes };
}
