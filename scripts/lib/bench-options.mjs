/**
 * Command-line options and paths shared by the plain-JS benchmarks
 * (bench-reorder.mjs, bench-zstd.mjs), which run against the built dist/.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);

/** `--name VALUE`, or `fallback`. */
export const opt = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i === -1 ? fallback : args[i + 1];
};

/** True when `--name` is given. */
export const flag = (name) => args.includes(`--${name}`);

/** The built package to measure: `--dist DIR` relative to the repository, default dist/. */
export const dist = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', opt('dist', 'dist'));

/** GNU time, for peak memory, when installed. */
export const timeBin = existsSync('/usr/bin/time') ? '/usr/bin/time' : undefined;
