// The import graph between src/ folders (static and dynamic imports), for
// the architecture test and for a quick look: `node scripts/lib/folder-graph.mjs`.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

/** A file's folder under src/; files at the top (index.ts, errors.ts, progress.ts) are nodes of their own. */
export function folderOf(srcDir, file) {
  const rel = relative(srcDir, file);
  return rel.includes(sep) ? rel.split(sep)[0] : rel.replace(/\.(ts|js)$/, '');
}

function tsFiles(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Map folder -> Map(folder it imports -> example "file -> target"). */
export function folderGraph(srcDir) {
  const graph = new Map();
  for (const file of tsFiles(srcDir)) {
    const from = folderOf(srcDir, file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from\s+|import\()\s*'(\.[^']+)'/g)) {
      const target = resolve(dirname(file), m[1]);
      const to = folderOf(srcDir, target);
      if (to === from) continue;
      if (!graph.has(from)) graph.set(from, new Map());
      if (!graph.get(from).has(to)) graph.get(from).set(to, `${relative(srcDir, file)} -> ${m[1]}`);
    }
  }
  return graph;
}

/** Every cycle between folders, as a list of folder paths (each once). */
export function folderCycles(graph) {
  const cycles = [];
  const seen = new Set();
  const visit = (node, path) => {
    for (const next of graph.get(node)?.keys() ?? []) {
      if (seen.size > 50) return;
      const at = path.indexOf(next);
      if (at >= 0) {
        const cycle = path.slice(at);
        const key = [...cycle].sort().join(',');
        if (!seen.has(key)) {
          seen.add(key);
          cycles.push([...cycle, next]);
        }
      } else if (path.length < 20) visit(next, [...path, next]);
    }
  };
  for (const node of graph.keys()) visit(node, [node]);
  return cycles;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const src = resolve(dirname(new URL(import.meta.url).pathname), '../../src');
  const graph = folderGraph(src);
  for (const [from, tos] of [...graph].sort()) console.log(`${from} -> ${[...tos.keys()].sort().join(' ')}`);
  for (const c of folderCycles(graph)) console.log(`cycle: ${c.join(' -> ')}`);
}
