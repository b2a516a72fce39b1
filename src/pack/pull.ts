/**
 * `pull`: references + platforms in, one image archive out: the pack
 * pipeline (pack.ts) into the sink the output's name asks for, with the
 * registry's layers kept byte for byte unless asked otherwise.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { formatPlatform, type PlatformSpec } from '../platform/platform.js';
import type { ProgressListener } from '../progress.js';
import type { ImageInput } from '../ref/input.js';
import { formatReference } from '../ref/reference.js';
import type { RegistryOptions } from '../registry/client.js';
import type { LayerMode } from '../sink/image-sink.js';
import { checkOutputFile } from '../io/output-path.js';
import { openSink } from '../sink/open-sink.js';
import { describeImages, pack, type PackedImage } from './pack.js';
import { openSession, parseInputs } from './session.js';

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

/** One image as pulled. */
export type PulledImage = PackedImage;

export interface PullResult {
  output: string;
  /** Size of the written archive in bytes. */
  bytes: number;
  layers: LayerMode;
  images: PulledImage[];
  skipped: Array<{ reference: string; platform: string; available: string[] }>;
  /** Input archives that were decompressed into a scratch file to be read (gzip, one-frame zstd, ...); an airpack bundle never is. */
  spilled: string[];
}

export async function pull(options: PullOptions): Promise<PullResult> {
  const { refs, specs } = parseInputs(options);
  const layers = options.layers ?? 'original';
  const output = path.resolve(options.output);
  checkOutputFile(options.output);
  const session = await openSession(options);
  try {
    const sink = openSink(output, { layersThroughStore: session.keepsBlobs, ...(options.onProgress ? { onProgress: options.onProgress } : {}) });
    const packed = await pack(session, refs, specs, sink, { layers, skipMissing: options.skipMissing ?? false });
    return {
      output,
      bytes: (await stat(output)).size,
      layers,
      images: describeImages(packed.images),
      skipped: packed.missing.map((m) => ({ reference: m.label ?? formatReference(m.ref), platform: formatPlatform(m.spec), available: m.available })),
      spilled: await session.spilled(),
    };
  } finally {
    await session.cleanup();
  }
}
