/**
 * Where packed images go. A sink takes images whose manifests are final and
 * whose blobs are (or will be) on disk, and writes them out. The image
 * archive (a plain or gzip tar) and the zstd bundle are the two sinks so
 * far; a registry sink (push) is the next sibling.
 *
 * A sink may also start before the layers are fetched, when every layer's
 * uncompressed size is known in advance (see pack/predict.ts): it lays the
 * output out from the predicted sizes and says where each layer's bytes go.
 */
import type { Writable } from 'node:stream';
import type { WriteArchiveOptions } from '../archive/image-archive.js';
import type { Phase, ProgressListener } from '../progress.js';
import type { ResolvedImage } from '../source/resolve.js';
import type { Descriptor } from '../spec/types.js';

export type LayerMode = 'original' | 'uncompressed';
export const LAYER_MODES: readonly LayerMode[] = ['original', 'uncompressed'];

/** A layer as the output will hold it. */
export interface StoredLayer {
  descriptor: Descriptor;
  /** Its bytes on disk (for a predicted layout: where they will be once stored). */
  path: string;
}

/** An image ready to be written: final manifest bytes and every blob on disk. */
export interface FetchedImage {
  source: ResolvedImage;
  manifest: { mediaType: string; digest: string; bytes: Buffer };
  layers: StoredLayer[];
}

/** What a sink wrote. */
export interface SinkResult {
  /** Uncompressed tar size. */
  tarBytes: number;
  /** zstd: data frames written. */
  frames?: number;
}

/**
 * Where a layer of a predicted layout goes: into the blob store (the sink
 * reads it from there once it is stored), or straight to its place in the
 * output as it is decompressed. `inOrder`: the layers streamed this way must
 * come one at a time, in archive order (a bundle's frames take their bytes
 * in order). `reread`: the sink is handed a way to read the layer's bytes
 * once more, decompressed and verified, before they come in order (a
 * bundle's cost probe looks at every layer before it cuts the frames).
 */
export type LayerDestination =
  | { kind: 'store' }
  | { kind: 'stream'; open: () => Writable; inOrder?: boolean; reread?: (read: (into: Writable) => Promise<unknown>) => void };

/** A layer of a predicted layout, as the sink sees it when it chooses. */
export interface PlannedLayer {
  diffId: string;
  /**
   * Read from a file on this machine (an archive, a layout directory): its
   * reads may be held back while the output catches up. A registry
   * download may not be (its connection would time out).
   */
  local: boolean;
}

/** An output laid out from predicted layer sizes, waiting for its layers. */
export interface PredictedWrite {
  /** Where this layer goes (asked once per layer). */
  destination(layer: PlannedLayer): LayerDestination;
  /** The layers' diff_ids in the order the output takes them: `inOrder` streams are fed in this order. */
  readonly layerOrder?: readonly string[];
  /**
   * Completes the output once every layer is in: `stored(diffId)` settles
   * when that layer is written where `destination` said (rejecting when it
   * failed or is not what was predicted). On failure nothing is left.
   */
  finish(stored: (diffId: string) => Promise<unknown>): Promise<SinkResult>;
}

/** Progress of a sink's own work (compressing, writing), as the archive writers report it. */
export function sinkProgress(onProgress: ProgressListener | undefined, phase: Phase, output: string): WriteArchiveOptions['progress'] {
  if (!onProgress) return undefined;
  return {
    start: (totalBytes) => onProgress({ type: 'phase', phase, totalBytes, what: output }),
    advance: (n) => onProgress({ type: 'progress', phase, n }),
  };
}

export interface ImageSink {
  /** The output, for messages and progress. */
  readonly output: string;
  /** Writes images whose every blob is on disk. */
  write(images: readonly FetchedImage[]): Promise<SinkResult>;
  /** Lays the output out from predicted layer sizes, before the layers are fetched. Absent when this sink has no use for it. */
  startPredicted?(images: readonly FetchedImage[]): Promise<PredictedWrite>;
}
