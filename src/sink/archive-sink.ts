/**
 * The image archive sink: one tar, plain or gzip, that is at once a
 * docker-archive and an OCI layout (see archive/image-archive.ts).
 *
 * A plain tar can be laid out before its layers arrive: with every layer's
 * uncompressed size predicted, the metadata is written at once and each
 * layer is decompressed straight to its offset in the file, so its bytes are
 * written once, not to a blob store first and copied after (on this
 * project's disks writing a new file costs far more than decompressing it).
 */
import { handleWritable } from '../io/handle-writable.js';
import { archiveParts, writeImageArchive, writeTarParts } from '../archive/image-archive.js';
import type { ArchiveCompression } from '../archive/compression-name.js';
import { TempFile } from '../io/output-sink.js';
import { assembleArchive } from './archive-content.js';
import { sinkProgress, type FetchedImage, type ImageSink, type PredictedWrite, type SinkResult } from './image-sink.js';
import type { ProgressListener } from '../progress.js';

export interface ArchiveSinkOptions {
  compression: Exclude<ArchiveCompression, 'zstd'>;
  /** gzip level (default 6). */
  level?: number;
  onProgress?: ProgressListener;
}

export function archiveSink(output: string, options: ArchiveSinkOptions): ImageSink {
  const sink: ImageSink = {
    output,
    async write(images) {
      const progress = sinkProgress(options.onProgress, options.compression === 'gzip' ? 'compress' : 'write', output);
      const written = await writeImageArchive(output, assembleArchive(images), { compression: options.compression, ...(options.level !== undefined ? { level: options.level } : {}), ...(progress ? { progress } : {}) });
      return { tarBytes: written.tarBytes };
    },
  };
  if (options.compression === 'none') sink.startPredicted = (images) => startDirect(output, images);
  return sink;
}

async function startDirect(output: string, images: readonly FetchedImage[]): Promise<PredictedWrite> {
  // The layer paths name the layers in the layout (by diff_id); nothing is read from them.
  const parts = archiveParts(assembleArchive(images));
  const tmp = await TempFile.create({ target: output });
  let offsets: Map<string, number>;
  try {
    // Everything but the layers now; each layer then goes to its offset as it arrives.
    offsets = await writeTarParts(parts, tmp.fh);
  } catch (err) {
    await tmp.discard();
    throw err;
  }
  const pathToOffset = new Map<string, number>();
  for (const image of images) for (const l of image.layers) pathToOffset.set(l.descriptor.digest, offsets.get(l.path)!);
  return {
    destination: ({ diffId }) => {
      const start = pathToOffset.get(diffId)!;
      return { kind: 'stream', open: () => handleWritable(tmp.fh, start) };
    },
    async finish(stored): Promise<SinkResult> {
      // Every layer settles before the file closes: a stream still writing to a closed
      // descriptor could hit whatever file reuses that number next.
      const settled = await Promise.allSettled([...pathToOffset.keys()].map((diffId) => stored(diffId)));
      const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) {
        await tmp.discard();
        throw failed.reason;
      }
      await tmp.commit();
      return { tarBytes: parts.reduce((n, p) => n + (Buffer.isBuffer(p) ? p.length : 'size' in p ? p.size : 0), 0) };
    },
  };
}
