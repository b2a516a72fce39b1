/**
 * One run's shared parts (blob store, registry clients, archives on disk)
 * and the first step of every pack: inputs and platforms parsed, each input
 * resolved through its image source to the manifests to fetch.
 */
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pLimit from 'p-limit';
import { BlobStore } from '../blob/store.js';
import { scratchDirectory } from '../io/cleanup.js';
import { AirpackError } from '../errors.js';
import { parsePlatform, type PlatformSpec } from '../platform/platform.js';
import type { ProgressListener } from '../progress.js';
import { parseImageInput, type ImageInput } from '../ref/input.js';
import { RegistryPool, type RegistryOptions } from '../registry/client.js';
import { missingPlatformError, type MissingPlatform, type ResolvedImage } from '../source/resolve.js';
import { openImageSource, type SourceContext } from '../source/image-source.js';
import { fetchSmallBlob, type FetchContext } from './fetch.js';

export const DEFAULT_PLATFORM = 'linux/amd64';
export const DEFAULT_CONCURRENCY = 8;

export interface SessionOptions {
  registry?: RegistryOptions;
  /** A directory to keep verified blobs in between runs (default: a temp dir, removed afterwards). */
  cacheDir?: string;
  /** Blob downloads in parallel (default 8). */
  concurrency?: number;
  onProgress?: ProgressListener;
}

/** What one run shares across its artifacts: the blob store, the registry clients, the archives opened. */
export interface Session {
  ctx: FetchContext;
  /** True when blobs are kept between runs (`cacheDir`): layers then go through the store. */
  keepsBlobs: boolean;
  /** Archives on disk this run had to decompress into a scratch file to read them at random. */
  spilled: () => Promise<string[]>;
  cleanup: () => Promise<void>;
}

/** A blob store and registry pool for one run; the temp store is removed by `cleanup`. */
export async function openSession(options: SessionOptions): Promise<Session> {
  // A temp store goes with the run, also when Ctrl-C ends it; a kept cache stays.
  const temp = options.cacheDir === undefined ? scratchDirectory(path.join(os.tmpdir(), 'airpack-blobs-')) : undefined;
  const dir = options.cacheDir ?? temp!.path;
  const forget = temp?.forget ?? (() => {});
  const pool = new RegistryPool(options.registry);
  const ctx: FetchContext = {
    store: new BlobStore(dir),
    clientFor: (r) => pool.get(r),
    concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
    onProgress: options.onProgress,
  };
  return {
    ctx,
    keepsBlobs: options.cacheDir !== undefined,
    spilled: async () => (await ctx.archives?.spilled()) ?? [],
    cleanup: async () => {
      await ctx.archives?.cleanup();
      if (!options.cacheDir) await rm(dir, { recursive: true, force: true });
      forget();
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
  const { PACK_BUNDLE_READERS } = await import('../source/bundle-readers.js');
  const sources: SourceContext = {
    clientFor: ctx.clientFor,
    fetchSmallBlob: (client, repo, desc, what) => fetchSmallBlob(ctx, client, repo, desc, what),
    archives: async () => {
      const { LocalArchives } = await import('../source/archive-source.js');
      // After the await: concurrent resolves must share one set (its cleanup removes the scratch copies).
      // Two readers per bundle: a bundle's cost probe reads each layer once more while the layer
      // before it, streamed into the open first frame, holds a reader until the frames are planned.
      return (ctx.archives ??= new LocalArchives(PACK_BUNDLE_READERS));
    },
  };
  // Manifests and configs come first, a round trip or more each: a slow registry shows here, not as a silent start.
  ctx.onProgress?.({ type: 'phase', phase: 'resolve', totalBytes: inputs.length });
  const results = await Promise.all(
    inputs.map((input) =>
      limit(async () => {
        const r = await openImageSource(input, sources).resolve(specs);
        if (onResolved) for (const image of r.images) onResolved(image);
        ctx.onProgress?.({ type: 'progress', phase: 'resolve', n: 1 });
        return r;
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

export function parseInputs(options: { images: ReadonlyArray<string | ImageInput>; platforms?: ReadonlyArray<string | PlatformSpec> }): { refs: ImageInput[]; specs: PlatformSpec[] } {
  const refs = options.images.map((r) => (typeof r === 'string' ? parseImageInput(r) : r));
  if (refs.length === 0) throw new AirpackError('INVALID_ARGUMENT', 'no images given; expected at least one reference or an --images list');
  const specs = (options.platforms && options.platforms.length > 0 ? options.platforms : [DEFAULT_PLATFORM]).map((p) => (typeof p === 'string' ? parsePlatform(p) : p));
  return { refs, specs };
}

