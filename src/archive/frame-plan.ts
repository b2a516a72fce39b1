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

import { RESTART_SPACING, type CostCurve } from '../zstd/cost-probe.js';
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
 * shares from half the curve's total upwards (SHARE_STEPS of them). Of
 * the plans whose two workers would finish within TIE_SHARE of the
 * earliest, the one with the fewest frames is kept, then the one with the
 * most cuts at layer boundaries, then the earliest to finish.
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

/**
 * Below this zstd level the plan is by bytes: the probe costs about what
 * compressing does, and the frames after the first wait for it for nothing.
 * Bundles of the bench sets' plain tars (disjoint 479 MiB / release-like
 * 346 MiB), by cost against by bytes, alternating in one run: level 3 5.5
 * against 2.9 s / 3.2 against 1.7 s; 9: 9.7 against 8.3 s; 12: 13.4
 * against 12.6 s; 13: 31.8 against 30.7 s / 19.5 against 20.2 s; 14: 31.9
 * against 35.1 s / 17.7 against 19.1 s (level 14 is where libzstd's slow
 * strategies begin to dominate the work).
 */
export const COST_PLAN_MIN_LEVEL = 14;

/**
 * The shape of a plan by cost for these layers, or undefined where the plan
 * by bytes applies (one frame, frames no longer than the window, or a level
 * below COST_PLAN_MIN_LEVEL).
 */
export function costPlanShape({ start, end, frameSize, level }: Omit<FramePlanInput, 'layerStarts'> & { level?: number }): CostPlanShape | undefined {
  if (!Number.isInteger(frameSize) || frameSize <= MAX_BUNDLE_WINDOW || end - start < MIN_SPLIT_BYTES) return undefined;
  if (level !== undefined && level < COST_PLAN_MIN_LEVEL) return undefined;
  // Past the window, and far enough that the first frame's worker has work while a slow registry
  // still sends the rest (frames after it wait for the plan, which waits for every layer).
  return { earliestFirstEnd: start + Math.max(MAX_BUNDLE_WINDOW + 1, Math.floor(Math.min(frameSize / 2, (end - start) / 4))) };
}

/** The tar offsets, ascending, at which data frames end before `end`, by cost. `curve` covers `start..end`. */
export function planFrameEndsByCost(input: FramePlanInput, curve: CostCurve): number[] {
  const shape = costPlanShape(input);
  if (!shape) return planFrameEnds(input);
  const { start, end } = input;
  checkCurve(curve, end - start);
  const costs = frameCosts(start, curve);
  const curveTotal = costs.at(end);
  const plans: Plan[] = [];
  for (let step = 0; step <= SHARE_STEPS; step++) {
    plans.push(planForShare(input, shape, costs, curveTotal, (curveTotal / PLAN_WORKERS) * (1 + step / SHARE_STEPS)));
  }
  // Of the plans that finish within TIE_SHARE of the first: the fewest frames (each frame more loses
  // long matches), then the most cuts at layer boundaries (they save bytes too), then the earliest to finish.
  const first = Math.min(...plans.map((p) => p.finish));
  const layerStart = new Set(input.layerStarts);
  const rank = (p: Plan): number[] => [p.ends.length, -p.ends.filter((e) => layerStart.has(e)).length, p.finish];
  const near = plans.filter((p) => p.finish <= first * (1 + TIE_SHARE));
  let best = near[0]!;
  for (const p of near.slice(1)) if (before(rank(p), rank(best))) best = p;
  return best.ends;
}

/** Where a plan's frames end, and when the busier of the two workers would finish. */
interface Plan {
  ends: number[];
  finish: number;
}

/** A curve the plan can use: one that spans the layers, ascends, and has its restarts where the probe puts them. */
function checkCurve(curve: CostCurve, length: number): void {
  const ascending = (xs: readonly number[]): boolean => xs.every((x, i) => Number.isFinite(x) && (i === 0 || x >= xs[i - 1]!));
  if (curve.at.length < 2 || curve.at[0] !== 0 || curve.at[curve.at.length - 1] !== length) {
    throw new RangeError(`cost curve: expected to span the ${length} bytes of layers, found ${curve.at[curve.at.length - 1] ?? 0}`);
  }
  if (curve.cost.length !== curve.at.length || !ascending(curve.at) || !ascending(curve.cost) || curve.cost[0] !== 0) {
    throw new RangeError(`cost curve: expected a cost from 0 at each of its ${curve.at.length} points, both ascending`);
  }
  const { restart } = curve;
  const first = restart?.at[0] ?? 0;
  if (restart && (restart.extra.length !== restart.at.length || first % RESTART_SPACING !== 0 || restart.at.some((a, i) => a !== first + i * RESTART_SPACING) || restart.extra.some((e) => !Number.isFinite(e) || e < 0))) {
    throw new RangeError(`cost curve: expected restarts every ${RESTART_SPACING} bytes from a multiple of it, each with an extra cost of 0 or more`);
  }
}

interface FrameCosts {
  /** The curve's cost from the layers' start to tar offset `x`. */
  at(x: number): number;
  /** The tar offset where the curve's cost comes to `cost`. */
  offset(cost: number): number;
  /** What a frame from `from` costs beyond the curve, for what it cannot refer back to. */
  start(from: number): number;
  /** What the frame from `from` to `to` costs, its start included. */
  frame(from: number, to: number): number;
}

function frameCosts(start: number, curve: CostCurve): FrameCosts {
  const at = (x: number): number => interpolate(curve.at, curve.cost, x - start);
  const { restart } = curve;
  // Between two restarts (a window apart) the extra is interpolated; past the last one, the last one's; before
  // the first, the first's (no cut falls there: the probe measures from the window holding the earliest first end).
  const startCost = (from: number): number => (from <= start || !restart || restart.at.length === 0 ? 0 : interpolate(restart.at, restart.extra, from - start));
  return {
    at,
    offset: (cost) => start + Math.round(interpolate(curve.cost, curve.at, cost)),
    start: startCost,
    // A frame shorter than the window pays its start in full (what repeats is met first, right after
    // the cut, and short frames must not look like a way around it), but no more than its length: the
    // probe's output for a stretch is at most about as long as the stretch.
    frame: (from, to) => at(to) - at(from) + Math.min(startCost(from), to - from),
  };
}

/**
 * The cuts that bring each worker, taking frames in order, up to `share`
 * (as far as `frameSize` allows). Shares of the cost (the least a frame
 * takes, how far a cut moves to a boundary) are of `curveTotal`.
 */
function planForShare({ start, end, layerStarts, frameSize }: FramePlanInput, shape: CostPlanShape, costs: FrameCosts, curveTotal: number, share: number): Plan {
  /** Cost each worker has taken, as they would take the frames in order. */
  const taken = new Array<number>(PLAN_WORKERS).fill(0);
  const ends: number[] = [];
  const give = (from: number, to: number): void => {
    taken[taken.indexOf(Math.min(...taken))]! += costs.frame(from, to);
  };
  const snap = SNAP_COST_SHARE * curveTotal;
  for (let previous = start; ; ) {
    const want = Math.max(share - Math.min(...taken), MIN_COST_SHARE * curveTotal);
    const lo = Math.max(previous + 1, ends.length === 0 ? shape.earliestFirstEnd : 0);
    const hi = Math.min(previous + frameSize, end - 1);
    // Where the frame's cost, its start's included, comes to `want`.
    const goal = costs.at(previous) + Math.max(want - costs.start(previous), MIN_COST_SHARE * curveTotal);
    // The rest goes into one frame when it fits and costs no more than wanted, or when no cut short of
    // the end reaches the goal (it would leave a sliver of a last frame).
    const restFits = end - previous <= frameSize && (costs.frame(previous, end) <= want + snap || goal >= costs.at(end));
    if (restFits || hi < lo) {
      give(previous, end);
      return { ends, finish: Math.max(...taken) };
    }
    let cut = Math.min(hi, Math.max(lo, costs.offset(goal)));
    // Snap around the cut as bounded (a frame held to frameSize snaps back from its end).
    const aim = costs.at(cut);
    let best = Infinity;
    for (const b of layerStarts) {
      if (b < lo || b > hi) continue;
      const off = Math.abs(costs.at(b) - aim);
      if (off < best) {
        best = off;
        if (off <= snap) cut = b;
      }
    }
    if (!(cut > previous)) throw new RangeError(`frame plan: no cut after ${previous}`);
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
