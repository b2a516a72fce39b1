/**
 * Where a bundle's data frames end. Frames are independent: long-distance
 * matches stop at every boundary, and each frame runs on one core. Two
 * plans:
 *
 * - By cost (`planFrameEndsByCost`), for 64 MiB of layers or more: frames
 *   that even out the cores by what they cost to compress, measured by a
 *   cheap probe of the layers (zstd/cost-probe.ts).
 * - By bytes (`planFrameEnds`): an even number of frames of about equal
 *   size. Small bundles, and frames no longer than the window.
 *
 * Both move cuts to a layer boundary when one is close: where one layer
 * ends and another begins the content usually changes, and little is lost
 * there. Equal bytes are not equal work. Measured on the release-like bench
 * set (346 MiB of layer tars: kube binaries sharing a common core, a shared
 * base, one big image), level 16 with long matching, each frame
 * single-threaded (`zstd --single-thread`):
 *
 * | frames | bytes | CPU s per frame | wall on 2 cores |
 * |---|---|---|---|
 * | one | 28.4 MB | 24.6 | 24.6 s (one core) |
 * | 128 MiB fixed (3) | 45.0 MB | 17.2 + 15.7 + 8.2 | 25.4 s (the third alone) |
 * | 2, cut mid-layer at half | 32.3 MB | 19.9 + 10.5 | 19.9 s |
 * | 2, at the layer boundary nearest half | 31.6-32.6 MB | 16.2 + 13.5 | 16.2 s |
 *
 * and on the disjoint set two halves differed 3x. The plans depend only
 * on the layers (their sizes, and for the plan by cost their bytes) and
 * `frameSize`, never on the machine, so the bytes are the same everywhere.
 */

import type { CostCurve } from '../zstd/cost-probe.js';
import { MAX_BUNDLE_WINDOW } from '../zstd/frame-header.js';

/** Below this much layer data one frame does it: two would save less than a second. */
export const MIN_SPLIT_BYTES = 64 * 1024 * 1024;
/** A cut moves to a layer boundary at most this share of a frame away. */
const SNAP_SHARE = 0.25;

export interface FramePlanInput {
  /** Tar offset where the layers begin (the metadata frame ends here). */
  start: number;
  /** Tar offset where the last layer ends. */
  end: number;
  /** Tar offsets where layer entries begin (their headers), ascending. */
  layerStarts: readonly number[];
  /** The largest frame wanted. */
  frameSize: number;
}

/** The tar offsets, ascending, at which data frames end before `end`. */
export function planFrameEnds({ start, end, layerStarts, frameSize }: FramePlanInput): number[] {
  // A size out of the writer's range gets no plan: the writer refuses it with its own message.
  if (!Number.isInteger(frameSize) || frameSize < 64 * 1024) return [];
  const total = end - start;
  if (total < MIN_SPLIT_BYTES) return cutsEvery(start, end, frameSize);
  const count = 2 * Math.ceil(total / (2 * frameSize));
  const share = total / count;
  // A snapped cut lengthens a frame by at most twice the window: it stays within frameSize.
  const window = Math.min(share * SNAP_SHARE, (frameSize - share) / 2);
  const ends: number[] = [];
  let previous = start;
  for (let k = 1; k < count; k++) {
    const ideal = Math.round(start + share * k);
    const near = nearest(layerStarts, ideal, previous);
    const cut = near !== undefined && Math.abs(near - ideal) <= window ? near : ideal;
    ends.push(cut);
    previous = cut;
  }
  return ends;
}

/** Fixed cuts every `frameSize` bytes (a small archive: at most one frame unless frameSize is tiny). */
function cutsEvery(start: number, end: number, frameSize: number): number[] {
  const ends: number[] = [];
  for (let at = start + frameSize; at < end; at += frameSize) ends.push(at);
  return ends;
}

/** The boundary nearest `target` that lies after `after`; the earlier one on a tie. */
function nearest(sorted: readonly number[], target: number, after: number): number | undefined {
  let best: number | undefined;
  for (const b of sorted) {
    if (b <= after) continue;
    if (best === undefined || Math.abs(b - target) < Math.abs(best - target)) best = b;
    if (b > target) break;
  }
  return best;
}

/**
 * Frames of equal work rather than equal bytes, from the probe's cost curve
 * (zstd/cost-probe.ts). Frames are compressed in order by workers that each
 * take the next frame when free, so the plan follows two of them (the
 * bytes must not depend on the machine, and two cores are the least that
 * run frames side by side): each frame carries what brings the worker that
 * will take it up to half of the total cost, as far as `frameSize` allows,
 * and the rest goes into a last frame once it fits. A cut moves to a layer
 * boundary when that changes its frame's cost by at most SNAP_COST_SHARE
 * of the total: where one layer ends and another begins the content
 * usually changes, and little is lost there.
 *
 * Two frames of about equal cost where `frameSize` allows; a cheap stretch
 * longer than `frameSize` (the disjoint bench set begins with 256 MiB that
 * level 16 takes in a fraction of the time of the rest) gets a frame of
 * its own and the costly rest is cut to even the two workers out.
 *
 * A frame also costs what its start adds (`CostCurve.restart`: content that
 * repeats what came before the cut, which the frame cannot refer back to),
 * so the total is not known before the cuts are. The plan is made for
 * shares from half the curve's total upwards (SHARE_STEPS of them); of
 * the plans whose two workers would finish within TIE_SHARE of the first,
 * the one with the fewest frames is kept, then the one with the most cuts
 * at layer boundaries, then the earliest to finish.
 *
 * The first data frame starts before the probe has seen the layers (its
 * worker compresses while they download): it runs to `earliestFirstEnd` at
 * least, which is past the window, so that frame, compressed with no size
 * pledged, comes out byte for byte as with its size pledged.
 */
export interface CostPlanShape {
  /** The first data frame ends here or later. */
  earliestFirstEnd: number;
}

/** Workers the plan by cost evens out. */
const PLAN_WORKERS = 2;
/** A cut moves to a layer boundary when that changes its frame's cost by at most this share of the total. */
const SNAP_COST_SHARE = 0.02;
/** The least cost a frame is given (short of the last): a frame more costs long matches. */
const MIN_COST_SHARE = 0.05;
/** Shares tried, from half the curve's total to all of it (what frame starts add is known only once the cuts are). */
const SHARE_STEPS = 256;
/** Plans whose workers would finish within this share of each other are a tie. */
const TIE_SHARE = 0.02;

/** The shape of a plan by cost for these layers, or undefined where the plan by bytes applies (one frame, or frames no longer than the window). */
export function costPlanShape({ start, end, frameSize }: Omit<FramePlanInput, 'layerStarts'>): CostPlanShape | undefined {
  if (!Number.isInteger(frameSize) || frameSize <= MAX_BUNDLE_WINDOW || end - start < MIN_SPLIT_BYTES) return undefined;
  // Past the window, and far enough that the first frame's worker has work while a slow registry
  // still sends the rest (frames after it wait for the plan, which waits for every layer).
  return { earliestFirstEnd: start + Math.max(MAX_BUNDLE_WINDOW + 1, Math.floor(Math.min(frameSize / 2, (end - start) / 4))) };
}

/** The tar offsets, ascending, at which data frames end before `end`, by cost. `curve` covers `start..end`. */
export function planFrameEndsByCost(input: FramePlanInput, curve: CostCurve): number[] {
  const shape = costPlanShape(input);
  if (!shape) return planFrameEnds(input);
  const { start, end } = input;
  if (curve.at.length < 2 || curve.at[0] !== 0 || curve.at[curve.at.length - 1] !== end - start) {
    throw new RangeError(`cost curve: expected to span the ${end - start} bytes of layers, found ${curve.at[curve.at.length - 1] ?? 0}`);
  }
  const costs = frameCosts(start, curve);
  const curveTotal = costs.at(end);
  const layerStart = new Set(input.layerStarts);
  const plans: Array<{ ends: number[]; finish: number }> = [];
  for (let step = 0; step <= SHARE_STEPS; step++) plans.push(planForShare(input, shape, costs, (curveTotal / PLAN_WORKERS) * (1 + step / SHARE_STEPS)));
  // Each frame more loses long matches: of the plans that finish within TIE_SHARE of the first, the fewest frames.
  const first = Math.min(...plans.map((p) => p.finish));
  const near = plans.filter((p) => p.finish <= first * (1 + TIE_SHARE));
  // Then the most cuts at layer boundaries (they save bytes too), then the earliest to finish.
  const onBoundaries = (p: { ends: number[] }): number => p.ends.filter((e) => layerStart.has(e)).length;
  const rank = (p: { ends: number[]; finish: number }): number[] => [p.ends.length, -onBoundaries(p), p.finish];
  let best = near[0]!;
  for (const p of near.slice(1)) if (before(rank(p), rank(best))) best = p;
  return best.ends;
}

interface FrameCosts {
  /** The curve's cost from the layers' start to tar offset `x`. */
  at(x: number): number;
  /** The tar offset where the curve's cost comes to `cost`. */
  offset(cost: number): number;
  /** What a frame from `from` costs beyond the curve over a window, for what it cannot refer back to. */
  start(from: number): number;
  /** What the frame from `from` to `to` costs, its start included (a frame shorter than the window pays its share). */
  frame(from: number, to: number): number;
}

function frameCosts(start: number, curve: CostCurve): FrameCosts {
  const at = (x: number): number => interpolate(curve.at, curve.cost, x - start);
  const { restart } = curve;
  // Restarts are a window (the probe's RESTART_SPACING) apart; between two the extra is interpolated.
  const startCost = (from: number): number =>
    from <= start || !restart || restart.at.length === 0 ? 0 : Math.max(0, interpolate(restart.at, restart.extra, from - start));
  return {
    at,
    offset: (cost) => start + Math.round(interpolate(curve.cost, curve.at, cost)),
    start: startCost,
    frame: (from, to) => at(to) - at(from) + startCost(from) * Math.min(1, (to - from) / MAX_BUNDLE_WINDOW),
  };
}

/**
 * The cuts that bring each worker, taking frames in order, up to `share`
 * (as far as `frameSize` allows), and when the busier worker would finish.
 */
function planForShare({ start, end, layerStarts, frameSize }: FramePlanInput, shape: CostPlanShape, costs: FrameCosts, share: number): { ends: number[]; finish: number } {
  const total = share * PLAN_WORKERS;
  /** Cost each worker has taken, as they would take the frames in order. */
  const taken = new Array<number>(PLAN_WORKERS).fill(0);
  const ends: number[] = [];
  const give = (from: number, to: number): void => {
    taken[taken.indexOf(Math.min(...taken))]! += costs.frame(from, to);
  };
  for (let previous = start; ; ) {
    const want = Math.max(share - Math.min(...taken), MIN_COST_SHARE * total);
    const lo = Math.max(previous + 1, ends.length === 0 ? shape.earliestFirstEnd : 0);
    const hi = Math.min(previous + frameSize, end - 1);
    if ((end - previous <= frameSize && costs.frame(previous, end) <= want + SNAP_COST_SHARE * total) || hi < lo) {
      give(previous, end);
      return { ends, finish: Math.max(...taken) };
    }
    // Where the frame's cost, its start's included, comes to `want`.
    const goal = costs.at(previous) + Math.max(want - costs.start(previous), MIN_COST_SHARE * total);
    let cut = Math.min(hi, Math.max(lo, costs.offset(goal)));
    // Snap around the cut as bounded (a frame held to frameSize snaps back from its end).
    const aim = costs.at(cut);
    let best = Infinity;
    for (const b of layerStarts) {
      if (b < lo || b > hi) continue;
      const off = Math.abs(costs.at(b) - aim);
      if (off < best) {
        best = off;
        if (off <= SNAP_COST_SHARE * total) cut = b;
      }
    }
    give(previous, cut);
    ends.push(cut);
    previous = cut;
  }
}

/** Whether `a` sorts before `b`, element by element. */
function before(a: readonly number[], b: readonly number[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return false;
}

/** y at x on the polyline through (xs, ys), xs ascending (where xs repeat, the last of the run). */
function interpolate(xs: readonly number[], ys: readonly number[], x: number): number {
  let lo = 0;
  let hi = xs.length - 1;
  if (x <= xs[0]!) return ys[0]!;
  if (x >= xs[hi]!) return ys[hi]!;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (xs[mid]! <= x) lo = mid;
    else hi = mid;
  }
  const span = xs[hi]! - xs[lo]!;
  return span === 0 ? ys[lo]! : ys[lo]! + ((ys[hi]! - ys[lo]!) * (x - xs[lo]!)) / span;
}
