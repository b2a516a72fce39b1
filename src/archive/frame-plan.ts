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
  const { start, end, layerStarts, frameSize } = input;
  if (curve.at.length < 2 || curve.at[0] !== 0 || curve.at[curve.at.length - 1] !== end - start) {
    throw new RangeError(`cost curve: expected to span the ${end - start} bytes of layers, found ${curve.at[curve.at.length - 1] ?? 0}`);
  }
  const costAt = (x: number): number => interpolate(curve.at, curve.cost, x - start);
  const total = costAt(end);
  const share = total / PLAN_WORKERS;
  /** Cost each worker has taken, as they would take the frames in order. */
  const taken = new Array<number>(PLAN_WORKERS).fill(0);
  const ends: number[] = [];
  for (let previous = start; ; ) {
    const worker = taken.indexOf(Math.min(...taken));
    const want = Math.max(share - taken[worker]!, MIN_COST_SHARE * total);
    const rest = total - costAt(previous);
    if (end - previous <= frameSize && rest <= want + SNAP_COST_SHARE * total) return ends;
    const lo = Math.max(previous + 1, ends.length === 0 ? shape.earliestFirstEnd : 0);
    const hi = Math.min(previous + frameSize, end - 1);
    const goal = costAt(previous) + want;
    let cut = Math.min(hi, Math.max(lo, start + Math.round(interpolate(curve.cost, curve.at, goal))));
    // Snap around the cut as bounded (a frame held to frameSize snaps back from its end).
    const aim = costAt(cut);
    let best = Infinity;
    for (const b of layerStarts) {
      if (b < lo || b > hi) continue;
      const off = Math.abs(costAt(b) - aim);
      if (off < best) {
        best = off;
        if (off <= SNAP_COST_SHARE * total) cut = b;
      }
    }
    taken[worker]! += costAt(cut) - costAt(previous);
    ends.push(cut);
    previous = cut;
  }
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
