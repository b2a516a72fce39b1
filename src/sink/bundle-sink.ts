/**
 * The zstd bundle sink: the image archive's tar in zstd frames, metadata in
 * a frame of its own, a seek table and an entry index at the end (see
 * zstd/frame-writer.ts). Frames compress on worker threads.
 *
 * From predicted layer sizes the layout is known before the layers are
 * fetched, so each frame is compressed as soon as the layers in it are in
 * the blob store, while the rest still download.
 */
import { writeImageArchive, type WriteArchiveOptions } from '../archive/image-archive.js';
import { assembleArchive } from './archive-content.js';
import type { FetchedImage, ImageSink, SinkResult } from './image-sink.js';
import type { WrittenArchive } from '../archive/image-archive.js';

export interface BundleSinkOptions {
  /** zstd level (default 16, as rke2). */
  level?: number;
  /** Frame size in bytes (default 128 MiB). */
  frameSize?: number;
}

function result(written: WrittenArchive): SinkResult {
  const out: SinkResult = { tarBytes: written.tarBytes };
  // Data frames: the entry index's skippable frame holds no tar bytes.
  if (written.frames) out.frames = written.frames.frames.filter((f) => f.uncompressedSize > 0).length;
  return out;
}

export function bundleSink(output: string, options: BundleSinkOptions = {}): ImageSink {
  const archiveOptions: WriteArchiveOptions = {
    compression: 'zstd',
    ...(options.level !== undefined ? { level: options.level } : {}),
    ...(options.frameSize !== undefined ? { frameSize: options.frameSize } : {}),
  };
  return {
    output,
    write: async (images: readonly FetchedImage[]) => result(await writeImageArchive(output, assembleArchive(images), archiveOptions)),
    async startPredicted(images) {
      return {
        destination: () => ({ kind: 'store' }),
        async finish(stored) {
          const content = assembleArchive(images);
          for (const blob of content.layerBlobs) {
            // The frame holding this layer waits for it (the writer reads the stored file).
            if ('path' in blob) {
              blob.ready = stored(blob.digest);
              blob.ready.catch(() => {});
            }
          }
          return result(await writeImageArchive(output, content, archiveOptions));
        },
      };
    },
  };
}
