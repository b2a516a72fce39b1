/**
 * The frame plan (archive/frame-plan.ts): an even number of frames of about
 * equal size, cuts moved to a nearby layer boundary, never a frame above
 * frameSize; and a real bundle cut where the plan says.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archiveLayout, writeImageArchive, type ArchiveContent } from '../src/archive/image-archive.js';
import { MIN_SPLIT_BYTES, planFrameEnds } from '../src/archive/frame-plan.js';
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
