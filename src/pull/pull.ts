/**
 * `pull`: references + platforms in, one image archive out.
 *
 * resolve (manifests and configs, per platform) -> fetch (every blob once,
 * verified, in parallel) -> assemble (names, index.json, manifest.json) ->
 * write (temp file, renamed when complete).
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pLimit from 'p-limit';
import { compressionForName, writeImageArchive } from '../archive/image-archive.js';
import { BlobStore } from '../blob/store.js';
import { AirpackError } from '../errors.js';
import { formatPlatform, parsePlatform, type PlatformSpec } from '../platform/platform.js';
import type { ProgressListener } from '../progress.js';
import { isArchiveInput, parseImageInput, type ImageInput } from '../ref/input.js';
import { formatReference } from '../ref/reference.js';
import { RegistryPool, type RegistryOptions } from '../registry/client.js';
import { assembleArchive } from './assemble.js';
import { LayerSizePredictor, pullDirect } from './direct.js';
import { fetchImages, fetchSmallBlob, type FetchContext, type FetchedImage, type LayerMode } from './fetch.js';
import { missingPlatformError, resolveImage, type MissingPlatform, type Resolution, type ResolvedImage } from '../source/resolve.js';

export interface PullOptions {
  /** Image references (`busybox`, `host:5000/x:1`, `x@sha256:…`) or archives on disk (`docker-archive:app.tar`, `oci:dir`), strings or parsed. */
  images: ReadonlyArray<string | ImageInput>;
  /** Requested platforms: `linux/amd64`, `windows/amd64:ltsc2022`, … (default linux/amd64). */
  platforms?: ReadonlyArray<string | PlatformSpec>;
  /** The archive to write. */
  output: string;
  /** `original` keeps registry blobs byte for byte; `uncompressed` stores layer tars as docker save does. */
  layers?: LayerMode;
  /** Warn about and skip images that lack a requested platform instead of failing. */
  skipMissing?: boolean;
  registry?: RegistryOptions;
  /** A directory to keep verified blobs in between runs (default: a temp dir, removed afterwards). */
  cacheDir?: string;
  /** Blob downloads in parallel (default 8). */
  concurrency?: number;
  onProgress?: ProgressListener;
}

export interface PulledImage {
  reference: string;
  platform: string;
  /** Manifest digest as stored in the archive (differs from the registry's in uncompressed mode). */
  digest: string;
  /** Manifest digest in the registry. */
  sourceDigest: string;
  /** Index digest the image was chosen from, when there was one. */
  indexDigest?: string;
  config: string;
  osVersion?: string;
  /** Bytes of config and layers as stored. */
  size: number;
}

export interface PullResult {
  output: string;
  /** Size of the written archive in bytes. */
  bytes: number;
  layers: LayerMode;
  images: PulledImage[];
  skipped: Array<{ reference: string; platform: string; available: string[] }>;
}

export const DEFAULT_PLATFORM = 'linux/amd64';
export const DEFAULT_CONCURRENCY = 8;

export interface Session {
  ctx: FetchContext;
  cleanup: () => Promise<void>;
}

/** A blob store and registry pool for one run; the temp store is removed by `cleanup`. */
export async function openSession(options: Pick<PullOptions, 'registry' | 'cacheDir' | 'concurrency' | 'onProgress'>): Promise<Session> {
  const dir = options.cacheDir ?? (await mkdtemp(path.join(os.tmpdir(), 'airpack-blobs-')));
  const pool = new RegistryPool(options.registry);
  const ctx: FetchContext = {
    store: new BlobStore(dir),
    clientFor: (r) => pool.get(r),
    concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
    onProgress: options.onProgress,
  };
  return {
    ctx,
    cleanup: async () => {
      await ctx.archives?.cleanup();
      if (!options.cacheDir) await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Resolve every input for every platform; missing platforms fail unless skipMissing. */
export async function resolveAll(
  ctx: FetchContext,
  inputs: readonly ImageInput[],
  specs: readonly PlatformSpec[],
  skipMissing: boolean,
  onResolved?: (image: ResolvedImage) => void,
): Promise<{ images: ResolvedImage[]; missing: MissingPlatform[] }> {
  const limit = pLimit(4);
  const results = await Promise.all(
    inputs.map((input) =>
      limit(() => {
        let resolving: Promise<Resolution>;
        if (isArchiveInput(input)) {
          // Loaded on first use: archive reading brings the tar and zstd readers, which registry pulls need not load.
          resolving = import('../source/archive-source.js').then((local) => local.resolveArchiveInput((ctx.archives ??= new local.LocalArchives()), input, specs));
        }
        else {
          const client = ctx.clientFor(input.registry);
          resolving = resolveImage(client, input, specs, (repo, desc, what) => fetchSmallBlob(ctx, client, repo, desc, what));
        }
        return resolving.then((r) => {
          if (onResolved) for (const image of r.images) onResolved(image);
          return r;
        });
      }),
    ),
  );
  const images = results.flatMap((r) => r.images);
  const missing = results.flatMap((r) => r.missing);
  if (missing.length > 0 && !skipMissing) {
    const first = missingPlatformError(missing[0] as MissingPlatform);
    if (missing.length === 1) throw first;
    throw new AirpackError('PLATFORM_NOT_FOUND', `${missing.length} images lack a requested platform (use --skip-missing to go on without them):\n  ${missing.map((m) => missingPlatformError(m).message).join('\n  ')}`);
  }
  for (const m of missing) ctx.onProgress?.({ type: 'warning', message: `skipped: ${missingPlatformError(m).message}` });
  return { images, missing };
}

export function parseInputs(options: Pick<PullOptions, 'images' | 'platforms'>): { refs: ImageInput[]; specs: PlatformSpec[] } {
  const refs = options.images.map((r) => (typeof r === 'string' ? parseImageInput(r) : r));
  if (refs.length === 0) throw new AirpackError('INVALID_ARGUMENT', 'no images given; expected at least one reference or an --images list');
  const specs = (options.platforms && options.platforms.length > 0 ? options.platforms : [DEFAULT_PLATFORM]).map((p) => (typeof p === 'string' ? parsePlatform(p) : p));
  return { refs, specs };
}

export function describeImages(images: readonly FetchedImage[]): PulledImage[] {
  return images.map((image) => {
    const out: PulledImage = {
      reference: formatReference(image.source.ref),
      platform: formatPlatform(image.source.platform),
      digest: image.manifest.digest,
      sourceDigest: image.source.manifest.digest,
      config: image.source.config.digest,
      size: image.source.config.bytes.length + image.layers.reduce((n, l) => n + l.descriptor.size, 0),
    };
    if (image.source.indexDigest) out.indexDigest = image.source.indexDigest;
    const osVersion = image.source.config.parsed['os.version'] ?? image.source.platform['os.version'];
    if (osVersion) out.osVersion = osVersion;
    return out;
  });
}

export async function pull(options: PullOptions): Promise<PullResult> {
  const { refs, specs } = parseInputs(options);
  const layers = options.layers ?? 'original';
  const output = path.resolve(options.output);
  const session = await openSession(options);
  try {
    // Uncompressed layers into a plain tar go straight to their place in it when their sizes
    // can be predicted (no --cache-dir to keep blobs in); otherwise through the blob store.
    const direct = layers === 'uncompressed' && !options.cacheDir && compressionForName(output) === 'none';
    const predictor = direct ? new LayerSizePredictor(session.ctx) : undefined;
    const { images, missing } = await resolveAll(session.ctx, refs, specs, options.skipMissing ?? false, predictor && ((image) => predictor.add(image)));
    if (images.length === 0) throw new AirpackError('PLATFORM_NOT_FOUND', 'nothing to write: no image has any of the requested platforms');
    const totalBytes = images.reduce((n, i) => n + i.parsedManifest.layers.reduce((m, l) => m + l.size, 0), 0);
    options.onProgress?.({ type: 'resolved', images: images.length, totalBytes });

    let fetched = predictor ? await pullDirect(session.ctx, images, output, predictor) : undefined;
    if (!fetched) {
      fetched = await fetchImages(session.ctx, images, layers);
      options.onProgress?.({ type: 'writing', output });
      await writeImageArchive(output, assembleArchive(fetched));
    }
    return {
      output,
      bytes: (await stat(output)).size,
      layers,
      images: describeImages(fetched),
      skipped: missing.map((m) => ({ reference: formatReference(m.ref), platform: formatPlatform(m.spec), available: m.available })),
    };
  } finally {
    await session.cleanup();
  }
}
