/** The sink an output path asks for: `.tar.zst` a bundle, `.tar.gz`/`.tgz` a gzip archive, anything else a plain tar. */
import { checkCompressionLevel, outputCompression, type ArchiveCompression } from '../archive/compression-name.js';
import { AirpackError } from '../errors.js';
import { archiveSink } from './archive-sink.js';
import { bundleSink } from './bundle-sink.js';
import type { ImageSink } from './image-sink.js';
import type { ProgressListener } from '../progress.js';

/** The compression a name asks for, or undefined when it asks for none we know (--compression decides then). */
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
