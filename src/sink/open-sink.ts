/** The sink an output path asks for: `.tar.zst` a bundle, `.tar.gz`/`.tgz` a gzip archive, anything else a plain tar. */
import { checkCompressionLevel, compressionForName, type ArchiveCompression } from '../archive/image-archive.js';
import { AirpackError } from '../errors.js';
import { archiveSink } from './archive-sink.js';
import { bundleSink } from './bundle-sink.js';
import type { ImageSink } from './image-sink.js';
import type { ProgressListener } from '../progress.js';

/** The compression a name asks for, or undefined when it asks for none we know (--compression decides then). */
function nameSays(output: string): ArchiveCompression | undefined {
  try {
    return compressionForName(output);
  } catch {
    return undefined;
  }
}

export interface OpenSinkOptions {
  /** Overrides the compression the name implies. */
  compression?: ArchiveCompression;
  /** zstd level (default 16) or gzip level (1-9, default 6). */
  level?: number;
  /** zstd frame size in bytes. */
  frameSize?: number;
  /**
   * Layers must land in the blob store (a kept `--cache-dir`): a plain tar
   * then does not take them straight from the network.
   */
  layersThroughStore?: boolean;
  onProgress?: ProgressListener;
}

/**
 * The compression `output` gets: `--compression`, else what the name says.
 * A name that says nothing we write is refused, and so is one that says
 * another format than `--compression` (the file would lie about itself).
 */
export function outputCompression(output: string, compression?: ArchiveCompression): ArchiveCompression {
  if (compression === undefined) return compressionForName(output);
  const named = nameSays(output);
  if (named !== undefined && named !== compression) {
    throw new AirpackError('INVALID_ARGUMENT', `${output}: the name says ${named === 'none' ? 'a plain tar' : named}, --compression says ${compression} [rename it, or drop --compression]`);
  }
  return compression;
}

export function openSink(output: string, options: OpenSinkOptions = {}): ImageSink {
  const compression = outputCompression(output, options.compression);
  checkCompressionLevel(compression, options.level, output);
  if (compression === 'zstd') {
    return bundleSink(output, {
      ...(options.level !== undefined ? { level: options.level } : {}),
      ...(options.frameSize !== undefined ? { frameSize: options.frameSize } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
  }
  const sink = archiveSink(output, { compression, ...(compression === 'gzip' && options.level !== undefined ? { level: options.level } : {}), ...(options.onProgress ? { onProgress: options.onProgress } : {}) });
  if (options.layersThroughStore) delete sink.startPredicted;
  return sink;
}
