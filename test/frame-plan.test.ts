/**
 * The frame plans (archive/frame-plan.ts). By bytes: an even number of
 * frames of about equal size, cuts moved to a nearby layer boundary, never a
 * frame above frameSize. By cost: frames that even out two workers taking
 * them in order, as far as frameSize allows. And a real bundle cut where the
 * plan says.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archiveLayout, writeImageArchive, type ArchiveContent } from '../src/archive/image-archive.js';
import { COST_PLAN_MIN_LEVEL, costPlanShape, MIN_SPLIT_BYTES, planFrameEnds, planFrameEndsByCost } from '../src/archive/frame-plan.js';
import type { CostCurve } from '../src/zstd/cost-probe.js';
import { readSeekTable } from '../src/zstd/index.js';
import { bytes } from './helpers/bytes.js';

const MiB = 1024 * 1024;

/** Frame lengths from the cuts between start and end. */
function lengths(start: number, end: number, cuts: readonly number[]): number[] {
  const edges = [start, ...cuts, end];
  return edges.slice(1).map((e, i) => e - edges[i]!);
}

describe('planFrameEnds', () => {
  it('keeps a small archive in one frame', () => {
    expect(planFrameEnds({ start: 4096, end: 4096 + MIN_SPLIT_BYTES - 1, layerStarts: [4096, 20 * MiB], frameSize: 256 * MiB })).toEqual([]);
  });

  it('cuts two frames at the layer boundary nearest the middle', () => {
    const start = 10_240;
    const layerStarts = [start, start + 47 * MiB, start + 81 * MiB, start + 115 * MiB, start + 165 * MiB, start + 202 * MiB, start + 237 * MiB];
    const end = start + 346 * MiB;
    const cuts = planFrameEnds({ start, end, layerStarts, frameSize: 256 * MiB });
    expect(cuts).toEqual([start + 165 * MiB]);
  });

  it('cuts in the middle of a layer when no boundary is near', () => {
    const start = 0;
    const end = 300 * MiB;
    const cuts = planFrameEnds({ start, end, layerStarts: [0, 10 * MiB, 290 * MiB], frameSize: 256 * MiB });
    expect(cuts).toEqual([150 * MiB]);
  });

  it('makes an even count of frames, none above frameSize, ascending, whatever the layers', () => {
    let seed = 7;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let round = 0; round < 500; round++) {
      const frameSize = Math.round((1 + random() * 300) * MiB);
      const start = Math.round(random() * MiB);
      const layerStarts = [start];
      let at = start;
      const count = 1 + Math.floor(random() * 40);
      for (let i = 0; i < count; i++) layerStarts.push((at += Math.round(random() * random() * 200 * MiB) + 1024));
      const end = at + Math.round(random() * 100 * MiB) + 512;
      const cuts = planFrameEnds({ start, end, layerStarts, frameSize });
      const frames = lengths(start, end, cuts);
      for (const n of frames) {
        expect(n).toBeGreaterThan(0);
        expect(n).toBeLessThanOrEqual(frameSize);
      }
      if (end - start >= MIN_SPLIT_BYTES) expect(frames.length % 2).toBe(0);
    }
  });

  it('makes four frames once two would be larger than frameSize', () => {
    const cuts = planFrameEnds({ start: 0, end: 600 * MiB, layerStarts: [0], frameSize: 256 * MiB });
    expect(lengths(0, 600 * MiB, cuts)).toEqual([150 * MiB, 150 * MiB, 150 * MiB, 150 * MiB]);
  });
});

/** A cost curve over `runs` of [MiB, cost per MiB], points every MiB. */
function curveOf(runs: Array<[number, number]>): CostCurve {
  const at = [0];
  const cost = [0];
  for (const [mib, perMib] of runs) {
    for (let i = 0; i < mib; i++) {
      at.push(at[at.length - 1]! + MiB);
      cost.push(cost[cost.length - 1]! + perMib);
    }
  }
  return { at, cost };
}

/** y at x on the polyline through (xs, ys), clamped at both ends. */
function along(xs: readonly number[], ys: readonly number[], x: number): number {
  const i = xs.findIndex((a) => a >= x);
  if (i === -1) return ys[ys.length - 1]!;
  if (xs[i] === x || i === 0) return ys[i]!;
  return ys[i - 1]! + ((x - xs[i - 1]!) / (xs[i]! - xs[i - 1]!)) * (ys[i]! - ys[i - 1]!);
}

/**
 * Each worker's cost when two take the frames in order, each the next one
 * when free; a frame's start costs the curve's restart extra there (at
 * most the frame's length).
 */
function workerCosts(curve: CostCurve, start: number, end: number, cuts: readonly number[]): number[] {
  const costAt = (x: number): number => along(curve.at, curve.cost, x - start);
  const startCost = (from: number, to: number): number =>
    from === start || !curve.restart ? 0 : Math.min(along(curve.restart.at, curve.restart.extra, from - start), to - from);
  const taken = [0, 0];
  const edges = [start, ...cuts, end];
  for (let k = 1; k < edges.length; k++) taken[taken[0]! <= taken[1]! ? 0 : 1]! += costAt(edges[k]!) - costAt(edges[k - 1]!) + startCost(edges[k - 1]!, edges[k]!);
  return taken;
}

describe('planFrameEndsByCost', () => {
  const frameSize = 256 * MiB;

  it('applies to layers of 64 MiB and more in frames longer than the window', () => {
    expect(costPlanShape({ start: 0, end: MIN_SPLIT_BYTES - 1, frameSize })).toBeUndefined();
    expect(costPlanShape({ start: 0, end: 300 * MiB, frameSize: 32 * MiB })).toBeUndefined();
    // The first frame runs a quarter of the layers (at most half a frame) before the plan may end it; past the window always.
    expect(costPlanShape({ start: 1024, end: 300 * MiB, frameSize })).toEqual({ earliestFirstEnd: 1024 + Math.floor((300 * MiB - 1024) / 4) });
    expect(costPlanShape({ start: 1024, end: 2000 * MiB, frameSize })).toEqual({ earliestFirstEnd: 1024 + 128 * MiB });
    expect(costPlanShape({ start: 1024, end: 100 * MiB, frameSize })).toEqual({ earliestFirstEnd: 1024 + 32 * MiB + 1 });
    // Below COST_PLAN_MIN_LEVEL the plan is by bytes; from it on, by cost.
    expect(costPlanShape({ start: 1024, end: 100 * MiB, frameSize, level: COST_PLAN_MIN_LEVEL - 1 })).toBeUndefined();
    expect(costPlanShape({ start: 1024, end: 100 * MiB, frameSize, level: COST_PLAN_MIN_LEVEL })).toEqual({ earliestFirstEnd: 1024 + 32 * MiB + 1 });
  });

  it('cuts two frames of equal cost, not of equal bytes', () => {
    // 100 MiB at 3 per MiB, then 200 MiB at 1: 500 in all, 250 a frame, so the cut is at 83.3 MiB.
    const curve = curveOf([[100, 3], [200, 1]]);
    const cuts = planFrameEndsByCost({ start: 0, end: 300 * MiB, layerStarts: [0, 200 * MiB], frameSize }, curve);
    expect(cuts).toEqual([Math.round((250 / 3) * MiB)]);
    expect(workerCosts(curve, 0, 300 * MiB, cuts).map(Math.round)).toEqual([250, 250]);
  });

  it('moves a cut to a layer boundary that changes its frame\'s cost by 2% of the total or less', () => {
    const curve = curveOf([[100, 3], [200, 1]]);
    // 84 MiB costs 252, 2 more than the ideal (0.4% of 500); 90 MiB costs 270 (4%) and is passed over.
    expect(planFrameEndsByCost({ start: 0, end: 300 * MiB, layerStarts: [0, 84 * MiB], frameSize }, curve)).toEqual([84 * MiB]);
    expect(planFrameEndsByCost({ start: 0, end: 300 * MiB, layerStarts: [0, 90 * MiB], frameSize }, curve)).toEqual([Math.round((250 / 3) * MiB)]);
  });

  it('gives a cheap stretch longer than frameSize a frame of its own and cuts the costly rest to even out the workers', () => {
    // 300 MiB at 0.1 per MiB (30), then 180 MiB at 1 (180): 210 in all. The first frame can take
    // 256 MiB only (25.6); the second takes 105, the third the rest (79.4): 105 a worker.
    const curve = curveOf([[300, 0.1], [180, 1]]);
    const end = 480 * MiB;
    const cuts = planFrameEndsByCost({ start: 0, end, layerStarts: [0], frameSize }, curve);
    expect(cuts).toHaveLength(2);
    expect(cuts[0]).toBe(256 * MiB);
    expect(workerCosts(curve, 0, end, cuts).map((c) => Math.round(c * 10) / 10)).toEqual([105, 105]);
  });

  it('charges a frame for what its start cannot refer back to, and evens out the workers with it', () => {
    // 300 MiB at 1 per MiB, repeating itself: a frame that starts past the first window pays 40 more.
    const flat = curveOf([[300, 1]]);
    const restart = { at: [0, 32 * MiB, 64 * MiB], extra: [0, 40, 40] };
    const curve = { ...flat, restart };
    const cuts = planFrameEndsByCost({ start: 0, end: 300 * MiB, layerStarts: [0], frameSize }, curve);
    // 340 in all: the first frame takes 170 MiB, the second 130 MiB and its start's 40 (within the
    // plan's steps: a share in 256 of half the curve's total).
    expect(cuts).toHaveLength(1);
    expect(Math.abs(cuts[0]! - 170 * MiB)).toBeLessThan(MiB);
    expect(workerCosts(curve, 0, 300 * MiB, cuts).map(Math.round)).toEqual([170, 170]);
    // Without the restart costs the cut is the middle, and the second worker would carry 190.
    expect(planFrameEndsByCost({ start: 0, end: 300 * MiB, layerStarts: [0], frameSize }, flat)).toEqual([150 * MiB]);
    expect(workerCosts(curve, 0, 300 * MiB, [150 * MiB]).map(Math.round)).toEqual([150, 190]);
  });

  it('keeps every frame within frameSize, the first past the window, and two workers within reach of even, whatever the costs', () => {
    let seed = 11;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let round = 0; round < 300; round++) {
      const size = Math.round((40 + random() * 300) * MiB);
      const frameSize = Math.round((33 + random() * 300) * MiB);
      const start = Math.round(random() * MiB);
      const end = start + size;
      const runs: Array<[number, number]> = [];
      for (let left = Math.ceil(size / MiB); left > 0; ) {
        const mib = Math.min(left, 1 + Math.floor(random() * 120));
        runs.push([mib, random() < 0.3 ? random() * 0.2 : random() * 3]);
        left -= mib;
      }
      const full = curveOf(runs);
      // The curve ends exactly at the layers' end; in half the rounds starting a frame costs more, up to a tenth of the total.
      const restart = { at: [] as number[], extra: [] as number[] };
      if (round % 2 === 1) for (let at = 0; at + 32 * MiB <= size; at += 32 * MiB) restart.at.push(at), restart.extra.push(random() < 0.5 ? 0 : random() * full.cost[full.cost.length - 1]! * 0.1);
      const curve = {
        at: [...full.at.filter((a) => a < size), size],
        cost: [...full.cost.slice(0, full.at.filter((a) => a < size).length), full.cost[full.cost.length - 1]!],
        ...(round % 2 === 1 ? { restart } : {}),
      };
      const layerStarts = [start];
      while (layerStarts[layerStarts.length - 1]! < end - 20 * MiB) layerStarts.push(layerStarts[layerStarts.length - 1]! + Math.round(random() * 60 * MiB) + 512);
      const input = { start, end, layerStarts: layerStarts.filter((b) => b < end), frameSize };
      const shape = costPlanShape(input);
      const cuts = planFrameEndsByCost(input, curve);
      expect(planFrameEndsByCost(input, curve)).toEqual(cuts);
      if (!shape) {
        expect(cuts).toEqual(planFrameEnds(input));
        continue;
      }
      const frames = lengths(start, end, cuts);
      expect(frames.length).toBeGreaterThanOrEqual(2);
      for (const n of frames) {
        expect(n).toBeGreaterThan(0);
        expect(n).toBeLessThanOrEqual(frameSize);
      }
      expect(cuts[0]).toBeGreaterThanOrEqual(shape.earliestFirstEnd);
      // What starts cost never buys more frames: a frame more is another start to pay for.
      if (curve.restart) expect(cuts.length).toBeLessThanOrEqual(planFrameEndsByCost(input, { at: curve.at, cost: curve.cost }).length);
      // A frame between the first and the last carries 3% of the curve's cost at least (5%, less a
      // cut moved to a boundary), unless frameSize holds it: no sliver of a frame to dodge a start's cost.
      const total0 = curve.cost[curve.cost.length - 1]!;
      const costAt = (x: number): number => along(curve.at, curve.cost, x - start);
      const edges = [start, ...cuts, end];
      for (let k = 1; k + 2 < edges.length; k++) {
        const [a, b] = [edges[k]!, edges[k + 1]!];
        const held = costAt(Math.min(a + frameSize, end)) - costAt(b) <= 0.02 * total0 + 1e-6;
        if (!held) expect(costAt(b) - costAt(a)).toBeGreaterThanOrEqual(0.03 * total0 - 1e-6);
      }
      // Where neither frameSize nor the first frame's least length binds, the busier worker carries
      // at most half the cost (its frame's start included) plus the slack: a cut moved to a layer
      // boundary (2% of the total), a plan kept for fewer frames or cuts on boundaries (2% of its finish).
      const [a, b] = workerCosts(curve, start, end, cuts);
      const total = a! + b!;
      const firstLeast = workerCosts(curve, start, end, [shape.earliestFirstEnd])[0]!;
      if (frames.length === 2 && frames.every((n) => n < frameSize) && firstLeast <= total / 2) {
        expect(Math.max(a!, b!)).toBeLessThanOrEqual(total * 0.52 * 1.02 + 1e-6);
      }
    }
  });

  it('refuses a curve that does not span the layers, does not ascend, or has its restarts out of place', () => {
    const input = { start: 0, end: 100 * MiB, layerStarts: [0], frameSize };
    expect(() => planFrameEndsByCost(input, curveOf([[90, 1]]))).toThrow(/expected to span the 104857600 bytes/);
    const curve = curveOf([[100, 1]]);
    expect(() => planFrameEndsByCost(input, { ...curve, cost: curve.cost.map((c, i) => (i === 50 ? Number.NaN : c)) })).toThrow(/expected a cost from 0 at each of its 101 points/);
    expect(() => planFrameEndsByCost(input, { ...curve, cost: curve.cost.slice(1) })).toThrow(/expected a cost from 0/);
    const bad = [
      { at: [0, 32 * MiB, 64 * MiB], extra: [0, 40] },
      { at: [0, 32 * MiB], extra: [0, Number.NaN] },
      { at: [0, 32 * MiB], extra: [0, -1] },
      { at: [0, 30 * MiB], extra: [0, 1] },
      { at: [16 * MiB, 48 * MiB], extra: [0, 1] },
    ];
    for (const restart of bad) expect(() => planFrameEndsByCost(input, { ...curve, restart })).toThrow(/expected restarts every 33554432 bytes from a multiple of it/);
    // Restarts measured from a later window (the probe skips those before the earliest first end, here
    // 32 MiB + 1): the same plan as with the first window's, whatever that one cost.
    const later = { at: [32 * MiB, 64 * MiB, 96 * MiB], extra: [3 * MiB, 2 * MiB, 1 * MiB] };
    const full = { at: [0, ...later.at], extra: [50 * MiB, ...later.extra] };
    expect(planFrameEndsByCost(input, { ...curve, restart: later })).toEqual(planFrameEndsByCost(input, { ...curve, restart: full }));
    expect(planFrameEndsByCost(input, { ...curve, restart: later })).not.toEqual(planFrameEndsByCost(input, curve));
    // No restarts measured: starts cost nothing more.
    expect(planFrameEndsByCost(input, { ...curve, restart: { at: [], extra: [] } })).toEqual(planFrameEndsByCost(input, curve));
  });
});

describe('a bundle cut by the plan', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'airpack-frame-plan-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('ends its data frames at a layer boundary near the middle, and the zstd CLI reads it whole', async () => {
    // Five layers of 9 to 31 MiB (80 MiB): the middle (40 MiB) is 1 MiB from the third layer's start.
    const sizes = [9, 30, 31, 5, 5].map((n) => n * MiB);
    const content: ArchiveContent = { images: [], metadataBlobs: [], layerBlobs: [] };
    for (const [i, size] of sizes.entries()) {
      const data = bytes(size, i + 1);
      const path = join(dir, `layer-${i}`);
      await writeFile(path, data);
      content.layerBlobs.push({ digest: `sha256:${createHash('sha256').update(data).digest('hex')}`, size, path });
    }
    const { layers } = archiveLayout(content);
    const out = join(dir, 'planned.tar.zst');
    await writeImageArchive(out, content, { compression: 'zstd', level: 1 });
    const table = (await readSeekTable(out))!;
    const data = table.frames.filter((f) => f.uncompressedSize > 0);
    // The metadata frame, then two data frames: the cut is the third layer's header.
    expect(data).toHaveLength(3);
    expect(data[1]!.uncompressedOffset).toBe(layers.start);
    expect(data[2]!.uncompressedOffset).toBe(layers.starts[2]);
    const whole = execFileSync('zstd', ['-dc', out], { maxBuffer: 256 * MiB });
    expect(whole.length).toBe(table.frames.reduce((n, f) => n + f.uncompressedSize, 0));
  });
});
