/**
 * `reorder` with compressed output: reorderTar's byte-exact tar, sent
 * through zstd frames (metadata in a frame of its own, seek table at the
 * end) or gzip, into a file (temp file beside it, renamed when complete) or
 * a Writable such as stdout. A plain tar goes straight to reorderTar.
 */
import type { Readable, Writable } from 'node:stream';
import { checkCompressionLevel, outputCompression as compressionOf, type ArchiveCompression } from '../archive/compression-name.js';
import { checkOutputFile } from '../io/output-path.js';
import { reorderTar, type ReorderOptions, type ReorderResult } from './reorder.js';
import { toAirpackError } from '../errors.js';
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
    const { layoutDirectoryTar } = await import('./layout-directory.js');
    return reorderInto(await layoutDirectoryTar(input), output, { ...opts, source: input });
  }
  const outputCompression = typeof output === 'string' && output !== '-' ? compressionOf(output, opts.compression) : (opts.compression ?? 'none');
  const label = typeof output === 'string' ? output : 'stdout';
  if (outputCompression === 'none') return { ...(await reorderTar(input, output, opts)), output: label, outputCompression };
  // The compressors load only for a compressed output: a plain reorder is start-up and a copy (issue 12).
  const { reorderCompressed } = await import('./reorder-compressed.js');
  return { ...(await reorderCompressed(input, output, outputCompression, label, opts)), output: label, outputCompression };
}
