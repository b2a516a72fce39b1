/**
 * `reorder` with compressed output: reorderTar's byte-exact tar, sent
 * through zstd frames (metadata in a frame of its own, seek table at the
 * end) or gzip, into a file (temp file beside it, renamed when complete) or
 * a Writable such as stdout. A plain tar goes straight to reorderTar.
 */
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { checkCompressionLevel, outputCompression as compressionOf, type ArchiveCompression } from '../archive/image-archive.js';
import { checkOutputFile } from '../io/output-path.js';
import { planTarFileReorder, reorderTar, type ReorderOptions, type ReorderResult } from './reorder.js';
import { END_OF_ARCHIVE } from '../tar/header.js';
import { withMetadataBoundary } from '../zstd/metadata-boundary.js';
import { writeViaTempFile } from '../io/output-sink.js';
import { FRAME_BOUNDARY, PUSH_FRAME_SIZE, writeZstdFrames, writeZstdParts, type ZstdFrameWriterOptions } from '../zstd/frame-writer.js';
import { toAirpackError } from '../errors.js';
import { layoutDirectoryTar } from './layout-directory.js';
import { isDirectory } from '../io/is-directory.js';

export interface ReorderArchiveOptions extends ReorderOptions {
  /** Output compression; default from the output name (`.tar.zst`, `.tar.gz`), plain tar for a Writable. */
  compression?: ArchiveCompression;
  /** zstd level (default 16) or gzip level (default 6). */
  level?: number;
  /** zstd frame size (default 128 MiB: the stream writer holds its frames). */
  frameSize?: number;
}

export interface ReorderArchiveResult extends ReorderResult {
  output: string;
  outputCompression: ArchiveCompression;
}

/** Failures as the one translator maps them (errors.ts): malformed input 4, I/O 5, a bad option 2. */
function asAirpackError(err: unknown, input: string): unknown {
  return toAirpackError(err, input);
}

/** The same frames whether the input is a file (parts) or a stream (the stream writer): 128 MiB unless asked. */
function zstdOptions(opts: ReorderArchiveOptions): ZstdFrameWriterOptions {
  return {
    ...(opts.level !== undefined ? { level: opts.level } : {}),
    frameSize: opts.frameSize ?? PUSH_FRAME_SIZE,
  };
}

/** Reorders `input` (path, "-" for stdin, or Readable) into `output` (path, or Writable), compressing as asked. */
export async function reorderArchive(input: string | Readable, output: string | Writable, opts: ReorderArchiveOptions = {}): Promise<ReorderArchiveResult> {
  // The output's own faults are named as the output's, before the input is read (exit 2).
  const toFile = typeof output === 'string' && output !== '-';
  if (toFile) checkOutputFile(output);
  // A name that says another format than --compression is refused, as for bundle: the file would lie about itself.
  checkCompressionLevel(toFile ? compressionOf(output, opts.compression) : (opts.compression ?? 'none'), opts.level, toFile ? output : 'stdout');
  try {
    return await reorderInto(input, output, opts);
  } catch (err) {
    throw asAirpackError(err, typeof input === 'string' ? input : 'stdin');
  }
}

async function reorderInto(input: string | Readable, output: string | Writable, opts: ReorderArchiveOptions): Promise<ReorderArchiveResult> {
  // An OCI layout directory becomes the tar it should have been, metadata first; it streams through like any tar.
  if (typeof input === 'string' && input !== '-' && (await isDirectory(input))) {
    return reorderInto(await layoutDirectoryTar(input), output, { ...opts, source: input });
  }
  const outputCompression = typeof output === 'string' && output !== '-' ? compressionOf(output, opts.compression) : (opts.compression ?? 'none');
  const label = typeof output === 'string' ? output : 'stdout';
  if (outputCompression === 'none') return { ...(await reorderTar(input, output, opts)), output: label, outputCompression };
  if (outputCompression === 'zstd' && typeof input === 'string' && input !== '-') {
    // A plain tar file: the frame workers read its ranges directly, nothing is buffered here.
    const plan = await planTarFileReorder(input, opts);
    if (plan) {
      const range = (r: { start: number; end: number }) => ({ path: input, offset: r.start, size: r.end - r.start });
      await writeZstdParts([...plan.front.map(range), FRAME_BOUNDARY, ...plan.rest.map(range), END_OF_ARCHIVE], output, zstdOptions(opts));
      return { ...plan.result, output: label, outputCompression };
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
  return { ...result, output: label, outputCompression };
}
