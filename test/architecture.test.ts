/**
 * The shape of src/, checked: folders import each other without cycles, the
 * layers below the commands do not reach up into them, and the public API
 * is a deliberate list, not a blanket re-export.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error a plain .mjs helper without types
import { folderCycles, folderGraph } from '../scripts/lib/folder-graph.mjs';

const SRC = join(__dirname, '..', 'src');
type Graph = Map<string, Map<string, string>>;
const graph = folderGraph(SRC) as Graph;

/** Folders that serve the commands and must not import them. */
const BELOW_PACK = ['spec', 'ref', 'platform', 'io', 'compress', 'tar', 'zstd', 'registry', 'blob', 'image', 'archive', 'source', 'sink', 'pack'];

describe('src/ folders', () => {
  it('import each other without cycles', () => {
    expect(folderCycles(graph)).toEqual([]);
  });

  it('below pack/, nothing imports scan/, release/ or cli/', () => {
    const upward: string[] = [];
    for (const from of BELOW_PACK) {
      for (const [to, example] of graph.get(from) ?? []) if (['scan', 'release', 'cli', 'index'].includes(to)) upward.push(example);
    }
    expect(upward).toEqual([]);
  });

  it('sources and sinks are siblings: neither imports the other side', () => {
    expect([...(graph.get('source')?.keys() ?? [])]).not.toContain('sink');
    expect([...(graph.get('source')?.keys() ?? [])]).not.toContain('pack');
    expect([...(graph.get('sink')?.keys() ?? [])]).not.toContain('pack');
  });

  it('src/index.ts lists its exports (no export *)', () => {
    const index = readFileSync(join(SRC, 'index.ts'), 'utf8');
    expect(index).not.toMatch(/export \*/);
  });
});
