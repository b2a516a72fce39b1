/**
 * The zstd bundle sink: the image archive's tar in zstd frames, metadata in
 * a frame of its own, a seek table and an entry index at the end (see
 * zstd/frame-writer.ts). Frames compress on worker threads.
 *
 * From predicted layer sizes the layout is known before the layers are
 * fetched, so every frame is queued at once: its worker compresses each
 * layer as soon as it is in the blob store, while the rest still download. Layers read out of an
 * archive on this machine (re-bundling) skip the store: they stream into
 * their frames in archive order as they are read and verified.
 */
import { writeImageArchive, type WriteArchiveOptions } from '../archive/image-archive.js';
import { assembleArchive } from './archive-content.js';
import { sinkProgress, type FetchedImage, type ImageSink, type SinkResult } from './image-sink.js';
import type { ProgressListener } from '../progress.js';
import type { WrittenArchive } from '../archive/image-archive.js';
import { StreamedPart } from '../zstd/frame-writer.js';

export interface BundleSinkOptions {
  /** zstd level (default 16, as rke2). */
  level?: number;
  /** Largest frame in bytes (default 256 MiB; archive/frame-plan.ts cuts the layers). */
  frameSize?: number;
  onProgress?: ProgressListener;
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
  const progress = sinkProgress(options.onProgress, 'compress', output);
  if (progress) archiveOptions.progress = progress;
  return {
    output,
    write: async (images: readonly FetchedImage[]) => result(await writeImageArchive(output, assembleArchive(images), archiveOptions)),
    async startPredicted(images) {
      const sizes = new Map(images.flatMap((image) => image.layers.map((l) => [l.descriptor.digest, l.descriptor.size] as const)));
      const streamed = new Map<string, StreamedPart>();
      // The frames take their layers in the archive's order, which is not always the order the
      // images resolved in (one reference in two inputs, a layer two images share).
      const layerOrder = [...new Set(assembleArchive(images).layerBlobs.map((b) => b.digest))];
      return {
        layerOrder,
        destination({ diffId, local }) {
          // A layer read out of an archive here goes straight into its frames: no copy in the
          // store. A download goes through the store: its connection must not wait on a frame.
          if (!local) return { kind: 'store' };
          const part = new StreamedPart(sizes.get(diffId)!);
          streamed.set(diffId, part);
          // The cost probe reads such a layer once before its frames take it (its source is on disk).
          return { kind: 'stream', inOrder: true, open: () => part.writable(), reread: (read) => (part.replay = read) };
        },
        async finish(stored) {
          const content = assembleArchive(images);
          content.layerBlobs = content.layerBlobs.map((blob) => {
            if (!('path' in blob)) return blob;
            const part = streamed.get(blob.digest);
            const ready = stored(blob.digest);
            if (part) {
              // A layer that fails stops its frames with its own error; the bundle is complete only
              // once each has been verified (after its last byte).
              part.follow(ready);
              return { digest: blob.digest, size: blob.size, streamed: part, ready };
            }
            // The frame holding this layer waits for it (the writer reads the stored file).
            ready.catch(() => {});
            return { ...blob, ready };
          });
          return result(await writeImageArchive(output, content, archiveOptions));
        },
      };
    },
  };
}
