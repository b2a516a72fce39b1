/**
 * Bundles dist/cli/fast-entry.js (find and ls) and what it imports into one
 * file, dist/cli/fast/fast.js, with rolldown: ES module loading costs per
 * module, and find's start-up is most of a find (see src/cli/fast-entry.ts).
 * Run after tsc (npm run build does). Node built-ins and the zstd binding
 * stay outside. What the find path loads only on demand (the streaming
 * decoders, the decode worker: worker_threads, child_process, zlib) goes
 * to chunks beside it, loaded as before only when a walk needs them, and
 * sharing the one copy of every module with the entry.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build } from 'rolldown';

const dist = fileURLToPath(new URL('../dist/cli/', import.meta.url));
const dir = process.argv[2] ?? `${dist}fast`;
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
const files = await readdir(dir);
process.stdout.write(`wrote ${dir}: ${files.join(', ')} (entry ${(await stat(`${dir}/fast.js`)).size} bytes)\n`);
