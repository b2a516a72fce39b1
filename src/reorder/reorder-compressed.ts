/**
 * `reorder` into a compressed output: zstd frames (metadata in a frame of
 * its own, seek table at the end) or gzip, into a file (temp file beside it,
 * renamed when complete) or a Writable such as stdout. Loaded by
 * reorder-output.ts only when the output is compressed.
 */
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { ArchiveCompression } from '../archive/compression-name.js';
import { planTarFileReorder, reorderTar, type ReorderResult } from './reorder.js';
import { END_OF_ARCHIVE } from '../tar/header.js';
import { withMetadataBoundary } from '../zstd/metadata-boundary.js';
import { writeViaTempFile } from '../io/output-sink.js';
import { FRAME_BOUNDARY, PUSH_FRAME_SIZE, writeZstdFrames, writeZstdParts, type ZstdFrameWriterOptions } from '../zstd/frame-writer.js';
import type { ReorderArchiveOptions } from './reorder-output.js';

/** The same frames whether the input is a file (parts) or a stream (the stream writer): 128 MiB unless asked. */
function zstdOptions(opts: ReorderArchiveOptions): ZstdFrameWriterOptions {
  return {
    ...(opts.level !== undefined ? { level: opts.level } : {}),
    frameSize: opts.frameSize ?? PUSH_FRAME_SIZE,
  };
}

export async function reorderCompressed(input: string | Readable, output: string | Writable, outputCompression: Exclude<ArchiveCompression, 'none'>, label: string, opts: ReorderArchiveOptions): Promise<ReorderResult> {
  if (outputCompression === 'zstd' && typeof input === 'string' && input !== '-') {
    // A plain tar file: the frame workers read its ranges directly, nothing is buffered here.
    const plan = await planTarFileReorder(input, opts);
    if (plan) {
      const range = (r: { start: number; end: number }) => ({ path: input, offset: r.start, size: r.end - r.start });
      await writeZstdParts([...plan.front.map(range), FRAME_BOUNDARY, ...plan.rest.map(range), END_OF_ARCHIVE], output, zstdOptions(opts));
      return plan.result;
    }
  }

  const tar = new PassThrough({ highWaterMark: 1024 * 1024 });
  const reordering = reorderTar(input, tar, opts).catch((err: unknown) => {
    tar.destroy(err as Error);
    throw err;
  });
  let sink: Promise<unknown>;
  if (outputCompression === 'zstd') {
    sink = writeZstdFrames(withMetadataBoundary(tar, { source: label }), output, zstdOptions(opts));
  } else if (typeof output === 'string') {
    sink = writeViaTempFile(output, (out) => pipeline(tar, createGzip({ level: opts.level ?? 6 }), out));
  } else {
    sink = pipeline(tar, createGzip({ level: opts.level ?? 6 }), output);
  }
  const [result] = await Promise.all([reordering, sink.catch((err: unknown) => {
    tar.destroy(err as Error);
    throw err;
  })]);
  return result;
}
