/**
 * Byte sizes on the command line (`--frame-size 128M`). Apart from
 * common.ts, whose registry options a plain reorder does not load.
 */
import { AirpackError } from '../errors.js';
import { MAX_FRAME_SIZE } from '../zstd/seek-table.js';

const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** `--frame-size`: bytes, or a number with K, M or G (binary; `128M`, `128MiB`, `1g`). */
export function parseByteSize(value: unknown, flag = 'frame-size'): number {
  const m = /^\s*(\d+)\s*([kmg]?)(?:i?b)?\s*$/i.exec(String(value));
  if (!m) throw new AirpackError('INVALID_ARGUMENT', `--${flag} expected a size such as 134217728, 128M or 1G, found "${String(value)}"`);
  const bytes = Number(m[1]) * (SIZE_UNITS[m[2]!.toLowerCase()] ?? 1);
  // The frame writer's own bounds, said in the option's words.
  if (flag === 'frame-size' && !(bytes >= 64 * 1024 && bytes <= MAX_FRAME_SIZE)) {
    throw new AirpackError('INVALID_ARGUMENT', `--frame-size ${String(value).trim()}: expected 64K to 2G`);
  }
  return bytes;
}

/** The zstd frame-size option of bundle and reorder, with the command's default; read it with `parseByteSize`. */
export function frameSizeOption(defaultSize: string, how: string) {
  return {
    type: 'string',
    describe: `largest zstd frame: bytes or K/M/G (default ${defaultSize}; ${how}; bigger frames compress better, smaller ones make extract read less)`,
  } as const;
}
