/**
 * The cost probe (zstd/cost-probe.ts): its curve, and what it says a frame
 * costs beyond the curve where it starts inside content that repeats what
 * came before.
 */
import { describe, expect, it } from 'vitest';
import { CostProbe, RESTART_SPACING } from '../src/zstd/cost-probe.js';
import { bytes } from './helpers/bytes.js';

const MiB = 1024 * 1024;

async function probe(pieces: readonly Buffer[]): Promise<Awaited<ReturnType<CostProbe['finish']>>> {
  const p = new CostProbe();
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
    // A restart every window; only whole windows count.
    expect(RESTART_SPACING).toBe(32 * MiB);
    expect(curve.restart!.at).toEqual([0, 32 * MiB]);
    // From 0 the restarted stream is the curve's own; from 32 MiB it pays for the block again.
    expect(curve.restart!.extra[0]).toBeLessThan(64 * 1024);
    expect(curve.restart!.extra[1]).toBeGreaterThan(5.5 * MiB);
    expect(curve.restart!.extra[1]).toBeLessThan(6.5 * MiB);
  });

  it('says a start costs nothing more where nothing repeats', async () => {
    const curve = await probe([bytes(40 * MiB, 3), bytes(30 * MiB, 4)]);
    const total = curve.cost[curve.cost.length - 1]!;
    expect(total).toBeGreaterThan(69 * MiB);
    expect(curve.restart!.at).toEqual([0, 32 * MiB]);
    for (const extra of curve.restart!.extra) expect(extra).toBeLessThan(64 * 1024);
    // A point at every mark, and every 4 MiB at least.
    expect(curve.at).toContain(40 * MiB);
    for (let i = 1; i < curve.at.length; i++) expect(curve.at[i]! - curve.at[i - 1]!).toBeLessThanOrEqual(4 * MiB);
  });
});
