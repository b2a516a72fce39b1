/**
 * The multi-frame zstd writer and its readers, checked against the zstd CLI
 * (plain and with wharfie's 32 MB memory limit), an independent parse of
 * every frame header, and the seekable format's seek table.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, createReadStream, createWriteStream, openSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bytes } from './helpers/bytes.js';
import { reorderTar } from '../src/index.js';
import { listTarStream } from '../src/tar/index.js';
import { withMetadataBoundary } from '../src/zstd/metadata-boundary.js';
import {
  createZstdDecoder,
  FRAME_BOUNDARY,
  parseFrameHeader,
  readFirstFrame,
  readFrame,
  readRange,
  readSeekTable,
  SeekableZstdFile,
  StreamedPart,
  writeZstdFrames,
  writeZstdParts,
  ZstdFrameWriter,
  type FrameBoundary,
  type ZstdFrameIndex,
} from '../src/zstd/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airpack-zstd-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});


/** Mixed content: text, repeats at long distance, random runs. Compressible but not trivially. */
function mixed(n: number, seed: number): Buffer {
  const parts: Buffer[] = [];
  let size = 0;
  let i = 0;
  const words = 'layer config manifest digest sha256 blob index platform linux amd64 arm64 windows'.split(' ');
  while (size < n) {
    let part: Buffer;
    switch (i % 3) {
      case 0:
        part = Buffer.from(Array.from({ length: 2000 }, (_, k) => words[(k * 7 + i) % words.length]).join(' '));
        break;
      case 1:
        part = bytes(20_000, seed + i);
        break;
      default:
        part = parts[Math.max(0, parts.length - 5)] ?? Buffer.alloc(1000);
    }
    parts.push(part);
    size += part.length;
    i++;
  }
  return Buffer.concat(parts).subarray(0, n);
}

/** Independent zstd frame walk (RFC 8878): every frame's header fields and extent. */
interface ParsedFrame {
  offset: number;
  skippable: boolean;
  singleSegment?: boolean;
  windowSize?: number;
  contentSize?: number | null;
  size: number;
}
function walkFrames(file: Buffer): ParsedFrame[] {
  const frames: ParsedFrame[] = [];
  let pos = 0;
  while (pos < file.length) {
    const magic = file.readUInt32LE(pos);
    if ((magic & 0xfffffff0) >>> 0 === 0x184d2a50) {
      const size = 8 + file.readUInt32LE(pos + 4);
      frames.push({ offset: pos, skippable: true, size });
      pos += size;
      continue;
    }
    expect(magic).toBe(0xfd2fb528);
    const fhd = file[pos + 4]!;
    const fcsFlag = fhd >> 6;
    const single = (fhd & 0x20) !== 0;
    const checksum = (fhd & 0x04) !== 0;
    const dictBytes = [0, 1, 2, 4][fhd & 3]!;
    let p = pos + 5;
    let windowSize = 0;
    if (!single) {
      const wd = file[p++]!;
      const base = 2 ** (10 + (wd >> 3));
      windowSize = base + (base / 8) * (wd & 7);
    }
    p += dictBytes;
    const fcsBytes = [single ? 1 : 0, 2, 4, 8][fcsFlag]!;
    let contentSize: number | null = null;
    if (fcsBytes === 1) contentSize = file[p]!;
    if (fcsBytes === 2) contentSize = file.readUInt16LE(p) + 256;
    if (fcsBytes === 4) contentSize = file.readUInt32LE(p);
    if (fcsBytes === 8) contentSize = Number(file.readBigUInt64LE(p));
    p += fcsBytes;
    if (single) windowSize = contentSize!;
    // Blocks: 3-byte header, last-block bit, type, size.
    for (;;) {
      const bh = file.readUIntLE(p, 3);
      const last = bh & 1;
      const type = (bh >> 1) & 3;
      const bsize = bh >> 3;
      p += 3 + (type === 1 ? 1 : bsize);
      if (last) break;
    }
    if (checksum) p += 4;
    frames.push({ offset: pos, skippable: false, singleSegment: single, windowSize, contentSize, size: p - pos });
    pos = p;
  }
  return frames;
}

function zstdCli(args: string[], input?: Buffer): Buffer {
  return execFileSync('zstd', args, { maxBuffer: 1024 * 1024 * 1024, ...(input ? { input } : {}) });
}

/** Readiness of a file still on its way for ever (`pending`), and of one lost after 200 ms with `err` (`ready`). */
function comingAndLost(err: Error): { pending: Promise<void>; ready: Promise<unknown> } {
  const ready = new Promise((_resolve, reject) => setTimeout(() => reject(err), 200));
  ready.catch(() => {});
  return { pending: new Promise<void>(() => {}), ready };
}

async function* chunked(data: Buffer, chunk: number, boundaries: readonly number[] = []): AsyncGenerator<Buffer | FrameBoundary> {
  let pos = 0;
  for (const b of [...boundaries, data.length]) {
    for (; pos < b; pos = Math.min(b, pos + chunk)) yield data.subarray(pos, Math.min(b, pos + chunk));
    if (b < data.length) yield FRAME_BOUNDARY;
  }
}

describe('writeZstdFrames', () => {
  // ~6 MiB of mixed content behind a small metadata chunk; 1 MiB frames keep level 16 quick.
  const meta = Buffer.from(JSON.stringify([{ Config: 'blobs/sha256/abc', RepoTags: ['example.com/app:1'], Layers: ['blobs/sha256/def'] }]).repeat(20));
  const body = mixed(6 * 1024 * 1024 + 12345, 7);
  const input = Buffer.concat([meta, body]);
  const frameSize = 1024 * 1024;
  let path: string;
  let index: ZstdFrameIndex;
  let file: Buffer;

  beforeAll(async () => {
    path = join(dir, 'bundle.tar.zst');
    index = await writeZstdFrames(chunked(input, 100_000, [meta.length]), path, { frameSize, parallelism: 2 });
    file = await readFile(path);
  }, 120_000);

  it('decompresses unchanged with zstd -d, and with wharfie-like --memory=32MB', () => {
    expect(zstdCli(['-d', '-c', path]).equals(input)).toBe(true);
    expect(zstdCli(['-d', '-c', '--memory=32MB', path]).equals(input)).toBe(true);
  });

  it('cuts frames at the boundary and every frameSize bytes after it', () => {
    const sizes = index.frames.map((f) => f.uncompressedSize);
    expect(sizes[0]).toBe(meta.length);
    expect(sizes.slice(1, -1).every((s) => s === frameSize)).toBe(true);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(input.length);
    expect(index.uncompressedSize).toBe(input.length);
    expect(index.compressedSize).toBe(file.length);
  });

  it('declares window <= 2^25 and the content size in every frame header', () => {
    const frames = walkFrames(file);
    const data = frames.filter((f) => !f.skippable);
    expect(data).toHaveLength(index.frames.length);
    data.forEach((f, i) => {
      expect(f.windowSize!).toBeLessThanOrEqual(2 ** 25);
      // Level 16 compresses with a 4 MiB window; a smaller frame declares just what covers it.
      expect(f.windowSize!).toBeLessThanOrEqual(Math.max(4 * 1024 * 1024, 1024));
      expect(f.windowSize!).toBeGreaterThanOrEqual(Math.min(4 * 1024 * 1024, index.frames[i]!.uncompressedSize));
      expect(f.contentSize).toBe(index.frames[i]!.uncompressedSize);
      expect(f.offset).toBe(index.frames[i]!.compressedOffset);
      expect(f.size).toBe(index.frames[i]!.compressedSize);
    });
    // Exactly one skippable frame, the seek table, at the very end.
    const skippable = frames.filter((f) => f.skippable);
    expect(skippable).toHaveLength(1);
    expect(skippable[0]!.offset + skippable[0]!.size).toBe(file.length);
    expect(skippable[0]!.offset).toBe(index.seekTable!.offset);
  });

  it('writes a seek table in the zstd seekable format that matches the frames', async () => {
    const t = file.subarray(index.seekTable!.offset);
    expect(t.readUInt32LE(0)).toBe(0x184d2a5e);
    expect(t.readUInt32LE(4)).toBe(t.length - 8);
    const n = t.readUInt32LE(t.length - 9);
    expect(n).toBe(index.frames.length);
    expect(t[t.length - 5]).toBe(0); // descriptor: no checksums
    expect(t.readUInt32LE(t.length - 4)).toBe(0x8f92eab1);
    for (let i = 0; i < n; i++) {
      expect(t.readUInt32LE(8 + i * 8)).toBe(index.frames[i]!.compressedSize);
      expect(t.readUInt32LE(12 + i * 8)).toBe(index.frames[i]!.uncompressedSize);
    }
    const table = await readSeekTable(path);
    expect(table!.frames).toEqual(index.frames);
    expect(table!.uncompressedSize).toBe(input.length);
    // Also from a numeric file descriptor, which is left open.
    const fd = openSync(path, 'r');
    try {
      expect((await readSeekTable(fd))!.frames).toEqual(index.frames);
      expect((await readFirstFrame(fd)).data.equals(meta)).toBe(true);
    } finally {
      closeSync(fd);
    }
  });

  it('frame 0 alone decompresses to exactly the first chunk (zstd CLI, readFrame, readFirstFrame)', async () => {
    const f0 = index.frames[0]!;
    const alone = file.subarray(0, f0.compressedSize);
    expect(zstdCli(['-d', '-c', '--memory=32MB'], alone).equals(meta)).toBe(true);
    expect((await readFrame(path, 0)).equals(meta)).toBe(true);
    const first = await readFirstFrame(path);
    expect(first.data.equals(meta)).toBe(true);
    expect(first.compressedSize).toBe(f0.compressedSize);
  });

  it('readRange decompresses only what covers the range, across frame boundaries', async () => {
    const f = await SeekableZstdFile.open(path);
    try {
      for (const [start, len] of [
        [0, 10],
        [meta.length - 5, 10],
        [meta.length + frameSize - 100, 2 * frameSize + 200],
        [input.length - 1, 1],
        [123_456, 0],
      ] as const) {
        expect((await f.readRange(start, len)).equals(input.subarray(start, start + len)), `${start}+${len}`).toBe(true);
      }
      expect(f.frameAt(meta.length).index).toBe(1);
      await expect(f.readRange(input.length - 1, 2)).rejects.toMatchObject({ code: 'ZSTD_OUT_OF_RANGE' });
      await expect(f.readFrame(index.frames.length)).rejects.toMatchObject({ code: 'ZSTD_OUT_OF_RANGE' });
    } finally {
      await f.close();
    }
    expect((await readRange(path, 5, 5)).equals(input.subarray(5, 10))).toBe(true);
  });

  it('gives identical bytes at parallelism 1 and 4, whatever the input chunking', async () => {
    const outs: Buffer[] = [];
    for (const [parallelism, chunk] of [
      [1, 1 << 20],
      [4, 4093],
    ] as const) {
      const p = join(dir, `par-${parallelism}.zst`);
      await writeZstdFrames(chunked(input, chunk, [meta.length]), p, { frameSize, parallelism });
      outs.push(await readFile(p));
    }
    expect(outs[0]!.equals(file)).toBe(true);
    expect(outs[1]!.equals(file)).toBe(true);
  }, 120_000);

  it('gives the same bytes from parts (memory and file ranges, read by the workers)', async () => {
    const bodyFile = join(dir, 'body.bin');
    // The body sits at offset 1000 of the file, so ranges start mid-file.
    await writeFile(bodyFile, Buffer.concat([Buffer.alloc(1000, 1), body]));
    const half = 2_500_000;
    const p = join(dir, 'parts.zst');
    const idx = await writeZstdParts(
      [meta, FRAME_BOUNDARY, { path: bodyFile, offset: 1000, size: half }, body.subarray(half, half + 777), { path: bodyFile, offset: 1000 + half + 777, size: body.length - half - 777 }],
      p,
      { frameSize, parallelism: 3 },
    );
    expect(idx.frames.map((f) => f.uncompressedSize)).toEqual(index.frames.map((f) => f.uncompressedSize));
    expect((await readFile(p)).equals(file)).toBe(true);
  }, 120_000);

  it('gives the same bytes from streamed parts, written in odd chunks across frame boundaries, with no file', async () => {
    const half = 2_500_000;
    // Two streamed parts around a file range and bytes; the first spans three frames.
    const first = new StreamedPart(half);
    const last = new StreamedPart(body.length - half - 777);
    const bodyFile = join(dir, 'body-streamed.bin');
    await writeFile(bodyFile, body);
    const p = join(dir, 'streamed.zst');
    const feed = async (part: StreamedPart, bytes: Buffer): Promise<void> => {
      const out = part.writable();
      for (let at = 0, k = 1; at < bytes.length; k++) {
        const n = Math.min(bytes.length - at, 1 + ((k * 7919) % 300_000));
        await new Promise<void>((resolve, reject) => out.write(bytes.subarray(at, at + n), (err) => (err ? reject(err) : resolve())));
        at += n;
      }
      await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    };
    const writing = writeZstdParts([meta, FRAME_BOUNDARY, { streamed: first }, body.subarray(half, half + 777), { streamed: last }], p, { frameSize, parallelism: 2 });
    // The producer writes in order while the frames compress, held back by the workers.
    await feed(first, body.subarray(0, half));
    await feed(last, body.subarray(half + 777));
    const idx = await writing;
    expect(idx.frames.map((f) => f.uncompressedSize)).toEqual(index.frames.map((f) => f.uncompressedSize));
    expect((await readFile(p)).equals(file)).toBe(true);
  }, 120_000);

  it('fails with the producer\'s own error when a streamed part breaks or ends short, and leaves nothing', async () => {
    const broken = new StreamedPart(3 * frameSize);
    const p = join(dir, 'broken.zst');
    const writing = writeZstdParts([meta, FRAME_BOUNDARY, { streamed: broken }], p, { frameSize, parallelism: 2 });
    const out = broken.writable();
    out.on('error', () => {});
    await new Promise<void>((resolve) => out.write(body.subarray(0, frameSize + 5), () => resolve()));
    const cause = new Error('layer sha256:abc: connection reset');
    out.destroy(cause);
    await expect(writing).rejects.toBe(cause);

    const short = new StreamedPart(1000);
    const q = join(dir, 'short-stream.zst');
    const shortWrite = writeZstdParts([{ streamed: short }], q, { frameSize });
    const w = short.writable();
    w.on('error', () => {});
    w.end(body.subarray(0, 10));
    await expect(shortWrite).rejects.toThrow(/ended after 10 of its 1000 bytes/);
    // A part whose verification fails after its last byte keeps the file from being completed.
    const unverified = new StreamedPart(100);
    const r = join(dir, 'unverified.zst');
    const wrong = new Error('layer sha256:def: digest sha256:123 [expected sha256:def]');
    const ready = new Promise((_resolve, reject) => setTimeout(() => reject(wrong), 50));
    ready.catch((err: unknown) => unverified.fail(err));
    const unverifiedWrite = writeZstdParts([{ streamed: unverified, ready }], r, { frameSize });
    unverified.writable().end(body.subarray(0, 100));
    await expect(unverifiedWrite).rejects.toBe(wrong);
    // A part that fails before any of its frames is on a worker (a source that breaks at once).
    const early = new StreamedPart(4 * frameSize);
    const e = join(dir, 'early.zst');
    const earlyWrite = writeZstdParts([{ streamed: early }], e, { frameSize, parallelism: 1 });
    const gone = new Error('source unreadable');
    early.fail(gone);
    await expect(earlyWrite).rejects.toBe(gone);
    expect((await readdir(dir)).filter((n) => /broken\.zst|short-stream\.zst|unverified\.zst|early\.zst/.test(n))).toEqual([]);
  }, 60_000);

  it('compresses and streams frames from workers in a program run with --input-type=module', async () => {
    // Eval'd workers inherit the flag; their code then has no require of its own.
    const lib = join(import.meta.dirname, '..', 'dist', 'zstd', 'index.js');
    const out = join(dir, 'esm.zst');
    const program = `
      import { SeekableZstdFile, writeZstdFrames } from ${JSON.stringify(lib)};
      const data = Buffer.alloc(200000, 'esm ');
      await writeZstdFrames([data], ${JSON.stringify(out)}, { level: 3, frameSize: 65536 });
      const z = await SeekableZstdFile.open(${JSON.stringify(out)});
      const stream = await z.stream(1, [Buffer.allocUnsafeSlow(4096), Buffer.allocUnsafeSlow(4096)], []);
      const pieces = [];
      for (let p; (p = await stream.next()); stream.release(p)) pieces.push(Buffer.from(p));
      await z.close();
      process.stdout.write(String(Buffer.concat(pieces).equals(data.subarray(65536, 131072))));
    `;
    expect(execFileSync(process.execPath, ['--input-type=module', '-e', program], { encoding: 'utf8' })).toBe('true');
    expect(zstdCli(['-d', '-c', out]).equals(Buffer.alloc(200000, 'esm '))).toBe(true);
  });

  it('starts a frame before its files are there: the worker waits at a file until it is ready, same bytes', async () => {
    const half = 2_500_000;
    // One frame holds the bytes in hand and the file: it must start before the file is there.
    const oneFrame = 16 * 1024 * 1024;
    const whole = join(dir, 'late-reference.zst');
    await writeZstdParts([meta, FRAME_BOUNDARY, body], whole, { frameSize: oneFrame });
    const bodyFile = join(dir, 'body-late.bin');
    let arrive!: () => void;
    // The file is written only when its promise resolves: a worker that read it early would fail.
    const ready = new Promise<void>((resolve) => (arrive = resolve)).then(() => writeFile(bodyFile, body));
    const p = join(dir, 'late.zst');
    let compressedBefore = 0;
    const writing = writeZstdParts([meta, FRAME_BOUNDARY, body.subarray(0, half), { path: bodyFile, offset: half, size: body.length - half, ready }], p, {
      frameSize: oneFrame,
      parallelism: 2,
      onInput: (n) => (compressedBefore += n),
    });
    // The bytes before the file are compressed while it is still missing (progress comes every 512 KiB).
    const reported = half - 512 * 1024;
    for (let waited = 0; compressedBefore < reported && waited < 10_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(compressedBefore).toBeGreaterThanOrEqual(reported);
    arrive();
    const idx = await writing;
    expect(idx.frames.filter((f) => f.uncompressedSize > 0)).toHaveLength(2);
    expect((await readFile(p)).equals(await readFile(whole))).toBe(true);
  }, 120_000);

  it('fails at once with the file\'s own error when a file it waits for never comes, and leaves nothing', async () => {
    const lost = new Error('layer sha256:abc: connection reset, gave up');
    // The first frame waits for a file that is still on its way; the second's file is lost. The write
    // must stop with the loss now, not once the first frame is done (here: never).
    const { pending, ready } = comingAndLost(lost);
    const p = join(dir, 'lost.zst');
    const writing = writeZstdParts(
      [meta, FRAME_BOUNDARY, { path: join(dir, 'still-coming.bin'), size: frameSize, ready: pending }, { path: join(dir, 'never-written.bin'), size: 5000, ready }],
      p,
      // One worker: the second frame is not even queued while the first waits.
      { frameSize, parallelism: 1 },
    );
    const timeout = new Promise((resolve) => setTimeout(() => resolve('still waiting'), 10_000));
    await expect(Promise.race([writing, timeout])).rejects.toBe(lost);
    expect((await readdir(dir)).filter((n) => n.startsWith('.lost.zst') || n === 'lost.zst')).toEqual([]);
  });

  it('fails naming the file when a part file is shorter than promised, and leaves nothing behind', async () => {
    const short = join(dir, 'short.bin');
    await writeFile(short, bytes(1000, 5));
    const p = join(dir, 'short.zst');
    await expect(writeZstdParts([{ path: short, size: 5000 }], p, { frameSize })).rejects.toThrow(/short\.bin: expected 5000 bytes from offset 0, file ends after 1000/);
    expect((await readdir(dir)).filter((n) => n.startsWith('.short.zst') || n === 'short.zst')).toEqual([]);
  });

  it('is listed by zstd -lv', () => {
    const out = execFileSync('zstd', ['-lv', path], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    expect(out).toMatch(new RegExp(`# Zstandard Frames: ${index.frames.length}\\b`));
    expect(out).toMatch(/# Skippable Frames: 1\b/);
    expect(out).toMatch(new RegExp(`Decompressed Size: .*\\(${input.length} B\\)`));
  });

  it('reads back through the streaming decoder with a 2^25 window cap', async () => {
    const chunks: Buffer[] = [];
    await pipeline(createReadStream(path), createZstdDecoder({ windowLogMax: 25 }), new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c), cb()) }));
    expect(Buffer.concat(chunks).equals(input)).toBe(true);
  });

  it('leaves no temp file behind', async () => {
    expect((await readdir(dir)).filter((n) => n.includes('.tmp'))).toEqual([]);
  });
});

describe('frames cut by cost (a plan chosen while the first frame compresses)', () => {
  const MiB = 1024 * 1024;
  // 40 MiB that compress to almost nothing, then 40 MiB that do not compress: the cost is all in
  // the second half, so frames of equal cost cut it at about 60 MiB, not at 40.
  const cheap = Buffer.alloc(40 * MiB, 'abcdefgh');
  const costly = bytes(40 * MiB, 77);
  const meta = Buffer.from('metadata entries '.repeat(200));
  const header = Buffer.alloc(512, 1);
  const start = meta.length;
  const end = start + header.length + cheap.length + costly.length;
  let files: { cheap: string; costly: string };
  beforeAll(async () => {
    files = { cheap: join(dir, 'cheap.bin'), costly: join(dir, 'costly.bin') };
    await writeFile(files.cheap, cheap);
    await writeFile(files.costly, costly);
  });
  const input = (): Buffer => Buffer.concat([meta, header, cheap, costly]);
  /** A plan that cuts at the cost midpoint, recording the ends it chose. */
  const halfByCost = (chosen: number[][]) => ({
    start,
    end,
    earliestFirstEnd: start + 32 * MiB + 1,
    choose(curve: { at: readonly number[]; cost: readonly number[] }): number[] {
      expect(curve.at[curve.at.length - 1]).toBe(end - start);
      const half = curve.cost[curve.cost.length - 1]! / 2;
      const i = curve.cost.findIndex((c) => c >= half);
      chosen.push([start + curve.at[i]!]);
      return [start + curve.at[i]!];
    },
  });

  it('queues the first frame open: its header gets the size, its bytes are those of the same frame pledged', async () => {
    const chosen: number[][] = [];
    const handedIn = [Buffer.from(meta), Buffer.from(header)];
    let arrive!: () => void;
    // The costly file comes late: the probe waits for it while the first frame compresses the cheap one.
    const ready = new Promise<void>((resolve) => (arrive = resolve));
    const p = join(dir, 'by-cost.zst');
    const writing = writeZstdParts([meta, FRAME_BOUNDARY, header, { path: files.cheap, size: cheap.length }, { path: files.costly, size: costly.length, ready }], p, {
      level: 1,
      frameSize: 192 * MiB,
      parallelism: 2,
      costPlan: halfByCost(chosen),
    });
    setTimeout(arrive, 300);
    const idx = await writing;
    const ends = chosen[0]!;
    expect(ends[0]).toBeGreaterThan(start + 55 * MiB);
    expect(idx.frames.filter((f) => f.uncompressedSize > 0).map((f) => f.uncompressedOffset)).toEqual([0, start, ends[0]]);
    // Every header records its frame's size (the open one's was put in when its end was chosen).
    const file = await readFile(p);
    for (const f of idx.frames.filter((f) => f.uncompressedSize > 0)) expect(parseFrameHeader(file, f.compressedOffset)!.contentSize).toBe(f.uncompressedSize);
    expect(execFileSync('zstd', ['-dc', p], { maxBuffer: 256 * MiB }).equals(input())).toBe(true);
    // The same ends given up front: every frame pledged its size from the start. Same bytes.
    const pledged = join(dir, 'pledged.zst');
    await writeZstdParts([meta, FRAME_BOUNDARY, header, { path: files.cheap, size: cheap.length }, { path: files.costly, size: costly.length }], pledged, { level: 1, frameSize: 192 * MiB, frameEnds: ends });
    expect(file.equals(await readFile(pledged))).toBe(true);
    // The bytes handed in are the caller's still (the probe copies what it moves to its worker).
    expect([meta.equals(handedIn[0]!), header.equals(handedIn[1]!)]).toEqual([true, true]);
  }, 120_000);

  it('fails at once with a layer\'s own error when it is lost while the plan waits for an earlier one, and leaves nothing', async () => {
    const lost = new Error('layer sha256:def: connection reset, gave up');
    const { pending, ready } = comingAndLost(lost);
    const p = join(dir, 'by-cost-lost.zst');
    // The probe waits for the second file, which never comes; the third is lost meanwhile.
    const writing = writeZstdParts(
      [meta, FRAME_BOUNDARY, header, { path: files.cheap, size: cheap.length }, { path: join(dir, 'still-coming.bin'), size: 20 * MiB, ready: pending }, { path: join(dir, 'never.bin'), size: 5 * MiB, ready }],
      p,
      { level: 1, frameSize: 192 * MiB, costPlan: { start, end: start + header.length + cheap.length + 25 * MiB, earliestFirstEnd: start + 32 * MiB + 1, choose: () => [start + 50 * MiB] } },
    );
    const timeout = new Promise((resolve) => setTimeout(() => resolve('still waiting'), 10_000));
    await expect(Promise.race([writing, timeout])).rejects.toBe(lost);
    expect((await readdir(dir)).filter((n) => n.includes('by-cost-lost'))).toEqual([]);
  }, 30_000);

  it('refuses a plan whose ends are not ascending within the layers, naming them', async () => {
    const plan = { ...halfByCost([]), choose: () => [start + 60 * MiB, start + 50 * MiB] };
    const p = join(dir, 'by-cost-bad-plan.zst');
    await expect(writeZstdParts([meta, FRAME_BOUNDARY, header, { path: files.cheap, size: cheap.length }, { path: files.costly, size: costly.length }], p, { level: 1, frameSize: 192 * MiB, costPlan: plan })).rejects.toThrow(
      /frame plan: ends expected ascending from \d+ and before \d+, found \d+, \d+/,
    );
    expect((await readdir(dir)).filter((n) => n.includes('by-cost-bad-plan'))).toEqual([]);
  }, 30_000);

  it('replays a streamed part for the probe, with the same bytes as from files; one that cannot be replayed is refused', async () => {
    const streamedWrite = async (p: string, replayable: boolean): Promise<void> => {
      const part = new StreamedPart(costly.length);
      if (replayable) part.replay = (into) => pipeline(Readable.from([costly.subarray(0, 5 * MiB), costly.subarray(5 * MiB)]), into);
      const writing = writeZstdParts([meta, FRAME_BOUNDARY, header, { path: files.cheap, size: cheap.length }, { streamed: part }], p, { level: 1, frameSize: 192 * MiB, costPlan: halfByCost([]) });
      const feeding = pipeline(Readable.from([costly]), part.writable());
      feeding.catch(() => {});
      await writing;
      await feeding;
    };
    const fromFile = join(dir, 'by-cost-file.zst');
    await writeZstdParts([meta, FRAME_BOUNDARY, header, { path: files.cheap, size: cheap.length }, { path: files.costly, size: costly.length }], fromFile, { level: 1, frameSize: 192 * MiB, costPlan: halfByCost([]) });
    const streamed = join(dir, 'by-cost-streamed.zst');
    await streamedWrite(streamed, true);
    expect((await readFile(streamed)).equals(await readFile(fromFile))).toBe(true);
    await expect(streamedWrite(join(dir, 'by-cost-no-replay.zst'), false)).rejects.toThrow(/a plan by cost needs to read it twice, and it cannot be replayed/);
    expect((await readdir(dir)).filter((n) => n.includes('by-cost-no-replay'))).toEqual([]);
  }, 120_000);
});

describe('frame limits and edge cases', () => {
  it('a 48 MiB frame at level 22 (which asks for a 2^27 window) declares at most 2^25 and passes --memory=32MB', async () => {
    // Fast to compress at any level: long runs of a short pattern, then a small tail frame.
    const big = 48 * 1024 * 1024;
    const data = Buffer.concat([Buffer.alloc(big, 'airpack '), bytes(1000, 3)]);
    const p = join(dir, 'max-frame.zst');
    const idx = await writeZstdFrames([data], p, { frameSize: big, level: 22 });
    expect(idx.frames.map((f) => f.uncompressedSize)).toEqual([big, 1000]);
    const frames = walkFrames(await readFile(p)).filter((f) => !f.skippable);
    expect(frames[0]!.windowSize).toBe(2 ** 25);
    // The 1000-byte frame declares no more window than it holds.
    expect(frames[1]!.windowSize).toBeLessThanOrEqual(1024);
    expect(frames.map((f) => f.contentSize)).toEqual([big, 1000]);
    expect(zstdCli(['-d', '-c', '--memory=32MB', p]).equals(data)).toBe(true);
  }, 60_000);

  it('refuses frame sizes above 2 GiB (the seek table records 32-bit sizes)', () => {
    expect(() => new ZstdFrameWriter(new Writable(), { frameSize: 2 ** 31 + 1 })).toThrow(/frameSize expected an integer in 65536\.\.2147483648/);
  });

  it('the 32 MB limit is real: a --long=26 frame fails it, and our decoder capped at 25 refuses it too', async () => {
    const data = mixed(3 * 1024 * 1024, 5);
    // Through stdin the CLI cannot shrink the window to the input: the header declares 2^26.
    const foreign = zstdCli(['-q', '-c', '-3', '--long=26'], data);
    const p = join(dir, 'foreign.zst');
    await writeFile(p, foreign);
    const r = spawnSync('zstd', ['-d', '-c', '--memory=32MB', p]);
    expect(r.status).not.toBe(0);
    const sink = new Writable({ write: (_c, _e, cb) => cb() });
    await expect(pipeline(createReadStream(p), createZstdDecoder({ windowLogMax: 25, source: p }), sink)).rejects.toMatchObject({
      code: 'ZSTD_WINDOW_TOO_LARGE',
      message: expect.stringMatching(/2\^26.*2\^25/),
    });
    // The default cap (2^27) reads it, as does readFirstFrame on this single-frame file.
    const chunks: Buffer[] = [];
    await pipeline(createReadStream(p), createZstdDecoder(), new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c), cb()) }));
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    expect((await readFirstFrame(p)).data.equals(data)).toBe(true);
    await expect(readFirstFrame(p, { maxSize: 1024 })).rejects.toMatchObject({ code: 'ZSTD_FRAME_TOO_LARGE' });
    expect(await readSeekTable(p)).toBeNull();
    await expect(SeekableZstdFile.open(p)).rejects.toMatchObject({ code: 'ZSTD_NO_SEEK_TABLE' });
  });

  it('a truncated file fails with ZSTD_TRUNCATED', async () => {
    const p = join(dir, 'trunc-src.zst');
    await writeZstdFrames([mixed(300_000, 9)], p, { frameSize: 64 * 1024, level: 3 });
    const whole = await readFile(p);
    const cut = join(dir, 'trunc.zst');
    await writeFile(cut, whole.subarray(0, 1000));
    const sink = new Writable({ write: (_c, _e, cb) => cb() });
    await expect(pipeline(createReadStream(cut), createZstdDecoder(), sink)).rejects.toMatchObject({ code: 'ZSTD_TRUNCATED' });
    await expect(readFirstFrame(cut)).rejects.toMatchObject({ code: 'ZSTD_TRUNCATED' });
    // A table footer is there but the frames before it are gone.
    const noHead = join(dir, 'no-head.zst');
    await writeFile(noHead, whole.subarray(500));
    await expect(readSeekTable(noHead)).rejects.toMatchObject({ code: 'ZSTD_BAD_SEEK_TABLE' });
  });

  it('empty input still makes a valid zstd file', async () => {
    const p = join(dir, 'empty.zst');
    const idx = await writeZstdFrames([], p);
    expect(idx.frames).toHaveLength(1);
    expect(zstdCli(['-d', '-c', p]).length).toBe(0);
    expect((await readFirstFrame(p)).data.length).toBe(0);
  });

  it('boundaries may repeat and sit at frame edges without making empty frames', async () => {
    const data = mixed(200_000, 11);
    const p = join(dir, 'edges.zst');
    async function* src(): AsyncGenerator<Buffer | FrameBoundary> {
      yield FRAME_BOUNDARY;
      yield data.subarray(0, 65536);
      yield FRAME_BOUNDARY;
      yield FRAME_BOUNDARY;
      yield data.subarray(65536);
      yield FRAME_BOUNDARY;
    }
    const idx = await writeZstdFrames(src(), p, { frameSize: 65536, level: 3 });
    expect(idx.frames.map((f) => f.uncompressedSize)).toEqual([65536, 65536, 65536, 200_000 - 3 * 65536]);
    expect(zstdCli(['-d', '-c', p]).equals(data)).toBe(true);
  });

  it('a failing source leaves neither the output nor a temp file', async () => {
    const p = join(dir, 'failing.zst');
    async function* src(): AsyncGenerator<Buffer> {
      yield mixed(200_000, 4);
      throw new Error('source broke');
    }
    await expect(writeZstdFrames(src(), p, { frameSize: 65536, level: 3 })).rejects.toThrow('source broke');
    expect((await readdir(dir)).filter((n) => n.startsWith('failing') || n.startsWith('.failing'))).toEqual([]);
  });

  it('an output whose last write fails (a full disk at the seek table) fails the write: nothing is taken as complete', async () => {
    const data = mixed(300_000, 5);
    const opts = { frameSize: 65536, level: 3, end: true };
    let size = 0;
    await writeZstdFrames([data], new Writable({ write: (chunk: Buffer, _enc, cb) => ((size += chunk.length), cb()) }), opts);
    let written = 0;
    // Each write settles a tick later, as a file's does; the one that would complete the file fails.
    const full = new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        written += chunk.length;
        setImmediate(() => cb(written >= size ? Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }) : null));
      },
    });
    await expect(writeZstdFrames([data], full, opts)).rejects.toThrow(/ENOSPC/);
    expect(written).toBe(size);
  });

  it('the push API reports frames as they are written, to a Writable', async () => {
    const p = join(dir, 'push.zst');
    const seen: number[] = [];
    const out = createWriteStream(p);
    const w = new ZstdFrameWriter(out, { frameSize: 65536, level: 3, onFrame: (f) => seen.push(f.index) });
    await w.write(Buffer.from('metadata'));
    await w.endFrame();
    await w.write(mixed(150_000, 2));
    const idx = await w.finish();
    expect(seen).toEqual([0, 1, 2, 3]);
    expect(idx.frames[0]!.uncompressedSize).toBe(8);
    expect((await readFirstFrame(p)).data.toString()).toBe('metadata');
  });
});

describe('bundle pipeline: reordered tar -> metadata frame + body frames', () => {
  it('frame 0 holds exactly the metadata entries, whatever the chunking', async () => {
    // A docker-save-like tar made by GNU tar (PAX headers on every entry), metadata last.
    const src = join(dir, 'img');
    execFileSync('mkdir', ['-p', join(src, 'blobs', 'sha256')]);
    await writeFile(join(src, 'blobs', 'sha256', 'a'.repeat(64)), mixed(400_000, 1));
    await writeFile(join(src, 'blobs', 'sha256', 'b'.repeat(64)), mixed(300_000, 2));
    await writeFile(join(src, 'manifest.json'), JSON.stringify([{ Config: 'blobs/sha256/bbb', RepoTags: ['x:1'], Layers: [] }]));
    await writeFile(join(src, 'index.json'), '{"schemaVersion":2,"manifests":[]}');
    await writeFile(join(src, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    const tarPath = join(dir, 'img.tar');
    execFileSync('tar', ['--format=pax', '-cf', tarPath, '-C', src, 'blobs', 'index.json', 'oci-layout', 'manifest.json']);
    const reordered = join(dir, 'img.reordered.tar');
    await reorderTar(tarPath, reordered);
    const tarBytes = await readFile(reordered);
    const outs: Buffer[] = [];
    for (const chunk of [100, 512, 65536]) {
      const p = join(dir, `img-${chunk}.tar.zst`);
      const idx = await writeZstdFrames(withMetadataBoundary(createReadStream(reordered, { highWaterMark: chunk })), p, { frameSize: 256 * 1024, level: 3 });
      outs.push(await readFile(p));
      const first = await readFirstFrame(p);
      expect(first.data.length).toBe(idx.frames[0]!.uncompressedSize);
      // The first frame is a whole number of entries: the metadata ones, nothing more.
      const { entries } = await listTarStream([first.data]);
      expect(entries.map((e) => e.name)).toEqual(['manifest.json', 'index.json', 'oci-layout']);
      expect(tarBytes.subarray(0, first.data.length).equals(first.data)).toBe(true);
      expect(zstdCli(['-d', '-c', '--memory=32MB', p]).equals(tarBytes)).toBe(true);
    }
    expect(outs[1]!.equals(outs[0]!)).toBe(true);
    expect(outs[2]!.equals(outs[0]!)).toBe(true);
  });
});
