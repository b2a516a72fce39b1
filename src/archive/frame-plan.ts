/**
 * Where a bundle's data frames end. Frames are independent: long-distance
 * matches stop at every boundary, and each frame runs on one core. So the
 * layers are cut into an even number of frames of about equal size, as few
 * as `frameSize` allows, each cut moved to the nearest layer boundary when
 * one is close: where one layer ends and another begins the content
 * usually changes, and little is lost there.
 *
 * Measured on the release-like bench set (346 MiB of layer tars: kube
 * binaries sharing a common core, a shared base, one big image), level 16
 * with long matching, each frame single-threaded (`zstd --single-thread`):
 *
 * | frames | bytes | CPU s per frame | wall on 2 cores |
 * |---|---|---|---|
 * | one | 28.4 MB | 24.6 | 24.6 s (one core) |
 * | 128 MiB fixed (3) | 45.0 MB | 17.2 + 15.7 + 8.2 | 25.4 s (the third alone) |
 * | 2, cut mid-layer at half | 32.3 MB | 19.9 + 10.5 | 19.9 s |
 * | 2, at the layer boundary nearest half | 31.6-32.6 MB | 16.2 + 13.5 | 16.2 s |
 *
 * Equal bytes are not equal work: the halves above differ by up to 2x, and
 * on the disjoint bench set two halves differed 3x (zstd/frame-writer.ts,
 * DEFAULT_FRAME_SIZE, has what that did to the wall time).
 *
 * An even count keeps two cores (and four) busy to the end; the count and
 * the cuts depend only on the layer sizes and `frameSize`, never on the
 * machine, so the bytes are the same everywhere.
 */

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
