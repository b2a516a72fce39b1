/**
 * What an output's name says about its compression, and the levels each
 * compression takes: checked before any work, by bundle, pull, extract and
 * reorder alike. A module of its own so that a plain reorder loads no
 * compressor to ask.
 */
import { AirpackError } from '../errors.js';

export type ArchiveCompression = 'none' | 'gzip' | 'zstd';

/**
 * The compression an output's name asks for. A name that asks for none of
 * these (`g.zip`, `x.tar.xz`, no extension) is refused rather than given a
 * plain tar under a name that promises something else; `--compression`
 * says it outright.
 */
export function compressionForName(name: string): ArchiveCompression {
  if (/\.(tar\.zst|tzst|zst)$/i.test(name)) return 'zstd';
  if (/\.(tar\.gz|tgz|gz)$/i.test(name)) return 'gzip';
  if (/\.tar$/i.test(name)) return 'none';
  throw new AirpackError('INVALID_ARGUMENT', `${name}: the name does not say how to write it [expected .tar, .tar.gz (.tgz) or .tar.zst (.tzst); or give --compression none|gzip|zstd]`);
}

function nameSays(output: string): ArchiveCompression | undefined {
  try {
    return compressionForName(output);
  } catch {
    return undefined;
  }
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

/** A level is the compressor's, and gzip's range is not zstd's: checked before any work. */
export function checkCompressionLevel(compression: ArchiveCompression, level: number | undefined, output: string): void {
  if (level === undefined || compression === 'none') return;
  const [max, hint] = compression === 'gzip' ? [9, '; zstd levels such as 16 are for .tar.zst'] : [22, ''];
  if (!(Number.isInteger(level) && level >= 1 && level <= max)) throw new AirpackError('INVALID_ARGUMENT', `--level ${level}: not a ${compression} level for ${output} [expected 1 to ${max}${hint}]`);
}
