/**
 * Bundles dist/cli/fast-entry.js (plain find, ls, verify, extract, reorder, pull) and what
 * it imports into dist/cli/fast/ with rolldown: ES module loading costs per
 * module, and start-up is most of a find (see src/cli/fast-entry.ts). Run
 * after tsc (npm run build does); an argument names another directory.
 * Node built-ins and the zstd binding stay outside. The entry file holds
 * every module the entry imports statically; what loads on demand (verify,
 * extract, the streaming decoders, the decode worker) goes to chunks beside
 * it, sharing the one copy of every module. The directory is written beside
 * and swapped in, so a run starting meanwhile finds the old one or none
 * (bin/airpack.js then takes the modules), never half a bundle.
 */
import { readdir, rename, rm, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'rolldown';

const dist = fileURLToPath(new URL('../dist/cli/', import.meta.url));
const target = process.argv[2] ?? `${dist}fast`;
const dir = `${target}.new-${process.pid}`;
await rm(dir, { recursive: true, force: true });
// Every module the entry imports statically goes into the entry file itself: left to the
// chunker, modules shared with the on-demand parts (verify, extract) became a dozen small
// chunks that find would load one by one.
const imports = new Map();
const entry = `${dist}fast-entry.js`;
const staticClosure = () => {
  const seen = new Set([entry]);
  for (const id of seen) for (const dep of imports.get(id) ?? []) seen.add(dep);
  return seen;
};
let core;
await build({
  input: { fast: entry },
  platform: 'node',
  external: [/^node:/, /^zstd-napi(\/|$)/],
  logLevel: 'warn',
  plugins: [{ name: 'static-imports', moduleParsed: (info) => void imports.set(info.id, info.importedIds) }],
  output: {
    dir,
    format: 'esm',
    entryFileNames: '[name].js',
    chunkFileNames: '[name]-[hash].js',
    sourcemap: false,
    codeSplitting: { groups: [{ name: 'fast', priority: 10, test: (id) => (core ??= staticClosure()).has(id) }] },
  },
});
const old = `${target}.old-${process.pid}`;
await rename(target, old).catch((err) => {
  if (err.code !== 'ENOENT') throw err;
});
await rename(dir, target);
await rm(old, { recursive: true, force: true });
const files = await readdir(target);
process.stdout.write(`wrote ${target}: ${files.join(', ')} (entry ${(await stat(`${target}/fast.js`)).size} bytes)\n`);
