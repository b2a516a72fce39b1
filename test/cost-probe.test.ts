/**
 * The cost probe (zstd/cost-probe.ts): its curve, and what it says a frame
 * costs beyond the curve where it starts inside content that repeats what
 * came before.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CostProbe, RESTART_SPACING } from '../src/zstd/cost-probe.js';
import { MAX_BUNDLE_WINDOW } from '../src/zstd/frame-header.js';
import { bytes } from './helpers/bytes.js';

const MiB = 1024 * 1024;

async function probe(pieces: readonly Buffer[], firstStart?: number): Promise<Awaited<ReturnType<CostProbe['finish']>>> {
  const p = new CostProbe({ firstStart });
  try {
    for (const piece of pieces) {
      await p.bytes(piece);
      p.mark();
    }
    return await p.finish();
  } finally {
    await p.close();
  }
}

describe('the cost probe', () => {
  it('counts a repeated 6 MiB block once on its curve, and again where a frame would start after the first window', async () => {
    // Twelve copies of one incompressible block: 72 MiB, two whole windows.
    const block = bytes(6 * MiB, 7);
    const curve = await probe(Array.from({ length: 12 }, () => block));
    const total = curve.cost[curve.cost.length - 1]!;
    expect(curve.at[curve.at.length - 1]).toBe(72 * MiB);
    // The first copy costs what it weighs; the others next to nothing.
    expect(total).toBeGreaterThan(6 * MiB);
    expect(total).toBeLessThan(6.5 * MiB);
    // A restart every window (the bundle's), the last one over the 8 MiB there are.
    expect(RESTART_SPACING).toBe(MAX_BUNDLE_WINDOW);
    expect(curve.restart!.at).toEqual([0, 32 * MiB, 64 * MiB]);
    // From 0 the restarted stream is the curve's own; from 32 and 64 MiB it pays for the block again.
    expect(curve.restart!.extra[0]).toBeLessThan(64 * 1024);
    for (const extra of curve.restart!.extra.slice(1)) {
      expect(extra).toBeGreaterThan(5.5 * MiB);
      expect(extra).toBeLessThan(6.5 * MiB);
    }
    // Told no frame starts before 40 MiB, the second stream starts at the window holding it: the same
    // curve, and the same extras from there on.
    const later = await probe(Array.from({ length: 12 }, () => block), 40 * MiB);
    expect({ at: later.at, cost: later.cost }).toEqual({ at: curve.at, cost: curve.cost });
    expect(later.restart).toEqual({ at: curve.restart!.at.slice(1), extra: curve.restart!.extra.slice(1) });
  });

  it('gives the same curve however the input comes: in pieces, with a mark on a window boundary, or read from a file', async () => {
    const block = bytes(5 * MiB, 9);
    const input = Buffer.concat([block, bytes(20 * MiB, 10), block, block, bytes(12 * MiB, 11), block]);
    const whole = await probe([input]);
    // Uneven pieces, empty ones, and a mark exactly where the first window ends.
    const p = new CostProbe();
    try {
      const cuts = [0, 12345, 12345, 32 * MiB, 32 * MiB + 1, 50 * MiB, input.length];
      for (let i = 1; i < cuts.length; i++) {
        await p.bytes(input.subarray(cuts[i - 1]!, cuts[i]!));
        if (cuts[i] === 32 * MiB) p.mark();
      }
      const pieces = await p.finish();
      expect(pieces.restart).toEqual(whole.restart);
      expect(pieces.cost[pieces.cost.length - 1]).toBe(whole.cost[whole.cost.length - 1]);
    } finally {
      await p.close();
    }
    const dir = await mkdtemp(join(tmpdir(), 'airpack-cost-probe-'));
    const f = new CostProbe();
    try {
      await writeFile(join(dir, 'input'), input);
      await f.file(join(dir, 'input'), 0, input.length);
      expect(await f.finish()).toEqual(whole);
    } finally {
      await f.close();
      await rm(dir, { recursive: true, force: true });
    }
    // The block's copies at 30 and 47 MiB find theirs before 32 MiB: a start there pays for most of it again.
    expect(whole.restart!.extra[1]).toBeGreaterThan(4 * MiB);
  });

  it('says a start costs nothing more where nothing repeats', async () => {
    const curve = await probe([bytes(40 * MiB, 3), bytes(30 * MiB, 4)]);
    const total = curve.cost[curve.cost.length - 1]!;
    expect(total).toBeGreaterThan(69 * MiB);
    expect(curve.restart!.at).toEqual([0, 32 * MiB, 64 * MiB]);
    for (const extra of curve.restart!.extra) expect(extra).toBeLessThan(64 * 1024);
    // A point at every mark, and every 4 MiB at least.
    expect(curve.at).toContain(40 * MiB);
    for (let i = 1; i < curve.at.length; i++) expect(curve.at[i]! - curve.at[i - 1]!).toBeLessThanOrEqual(4 * MiB);
  });
});
