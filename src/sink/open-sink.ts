/** The sink an output path asks for: `.tar.zst` a bundle, `.tar.gz`/`.tgz` a gzip archive, anything else a plain tar. */
import { compressionForName, type ArchiveCompression } from '../archive/image-archive.js';
import { AirpackError } from '../errors.js';
import { archiveSink } from './archive-sink.js';
import { bundleSink } from './bundle-sink.js';
import type { ImageSink } from './image-sink.js';
import type { ProgressListener } from '../progress.js';

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
  const compression = options.compression ?? compressionForName(output);
  // Checked before any work: a level is the compressor's, and gzip's range is not zstd's.
  if (compression === 'gzip' && options.level !== undefined && !(Number.isInteger(options.level) && options.level >= 1 && options.level <= 9)) {
    throw new AirpackError('INVALID_ARGUMENT', `${output}: gzip level ${options.level} [expected 1 to 9; zstd levels such as 16 are for .tar.zst]`);
  }
  if (compression === 'zstd' && options.level !== undefined && !(Number.isInteger(options.level) && options.level >= 1 && options.level <= 22)) {
    throw new AirpackError('INVALID_ARGUMENT', `${output}: zstd level ${options.level} [expected 1 to 22]`);
  }
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
