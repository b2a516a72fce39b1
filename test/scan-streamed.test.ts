/**
 * Big frames stream from the decode worker in pieces (verify, extract): a
 * bundle of frames of several pieces each, checked against the bytes that
 * went in, and damage in a frame the worker streams (corrupt data, a seek
 * table that lies about a frame's size) named by frame.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeImageArchive, type ArchiveContent } from '../src/archive/image-archive.js';
import { extractImage, verifyArchive } from '../src/scan/index.js';
import { readSeekTable, SeekableZstdFile, STREAM_CHUNK, STREAM_DEPTH, WALK_CHUNK } from '../src/zstd/index.js';
import { seekableReader } from '../src/zstd/positional-reader.js';
import { BundleReaders } from '../src/source/bundle-readers.js';
import { readTar } from './helpers/tar.js';
import { seededText } from './support/fixtures.js';
import { makeTempDir, removeDir, run, runOk } from './support/util.js';

const CLI = join(import.meta.dirname, '..', 'bin', 'airpack.js');
const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const MiB = 1024 * 1024;

let dir: string;
let bundle: string;
const layers = [seededText('streamed-a', 16 * MiB + 12345), seededText('streamed-b', 7 * MiB + 999)];

/** One image of one layer per entry of `layers`: extracting a later one jumps over the others' frames. */
function contentOf(layerFiles: string[], layers: readonly Buffer[]): ArchiveContent {
  const content: ArchiveContent = { images: [], metadataBlobs: [], layerBlobs: [] };
  layers.forEach((layer, i) => {
    const desc = { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha(layer), size: layer.length };
    const config = Buffer.from(JSON.stringify({ os: 'linux', architecture: 'amd64', rootfs: { type: 'layers', diff_ids: [desc.digest] } }));
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length }, layers: [desc] }));
    content.images.push({
      descriptor: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(manifest), size: manifest.length, platform: { os: 'linux', architecture: 'amd64' }, annotations: { 'io.containerd.image.name': `docker.io/rancher/streamed-${i}:v1` } },
      docker: [{ Config: `blobs/sha256/${sha(config).slice(7)}`, RepoTags: [`rancher/streamed-${i}:v1`], Layers: [`blobs/sha256/${desc.digest.slice(7)}`] }],
    });
    content.metadataBlobs.push({ digest: sha(manifest), size: manifest.length, data: manifest }, { digest: sha(config), size: config.length, data: config });
    content.layerBlobs.push({ digest: desc.digest, size: desc.size, path: layerFiles[i]! });
  });
  return content;
}

async function layerFiles(data: readonly Buffer[], prefix: string): Promise<string[]> {
  return Promise.all(
    data.map(async (l, i) => {
      const f = join(dir, `${prefix}-${i}`);
      await writeFile(f, l);
      return f;
    }),
  );
}

beforeAll(async () => {
  dir = await makeTempDir('airpack-streamed-');
  const files = await layerFiles(layers, 'layer');
  bundle = join(dir, 'streamed.tar.zst');
  // Frames of 1.5 pieces of the reader that walks (verify, extract; 6 of a random reader's): pieces
  // end mid-frame and mid-entry, frames end mid-entry.
  await writeImageArchive(bundle, contentOf(files, layers), { compression: 'zstd', level: 1, frameSize: WALK_CHUNK + WALK_CHUNK / 2 });
}, 60_000);

afterAll(() => removeDir(dir));

describe('frames streamed from the worker in pieces', () => {
  it('verifies, and extracts every layer byte for byte', async () => {
    const table = (await readSeekTable(bundle))!;
    expect(table.frames.filter((f) => f.uncompressedSize > STREAM_CHUNK).length).toBeGreaterThanOrEqual(3);
    const [v] = await verifyArchive([bundle]);
    expect(v!.problems).toEqual([]);
    expect(v!.blobBytes).toBeGreaterThan(18 * MiB);
    // The second image's layer starts frames after the first's header: the walk jumps there.
    for (const [i, layer] of layers.entries()) {
      const out = join(dir, `extracted-${i}.tar`);
      await extractImage(bundle, `rancher/streamed-${i}:v1`, { output: out });
      const entries = await readTar(out);
      expect(entries.find((e) => e.name === `blobs/sha256/${sha(layer).slice(7)}`)?.data.equals(layer)).toBe(true);
    }
  });

  it('names the frame whose data does not decode', async () => {
    const table = (await readSeekTable(bundle))!;
    const f = table.frames[3]!;
    const buf = await readFile(bundle);
    buf.fill(0x55, f.compressedOffset + 20, f.compressedOffset + Math.min(f.compressedSize - 4, 4000));
    const bad = join(dir, 'corrupt.tar.zst');
    await writeFile(bad, buf);
    const [v] = await verifyArchive([bad]);
    expect(v!.ok).toBe(false);
    expect(v!.problems.join('\n')).toMatch(new RegExp(`corrupt\\.tar\\.zst: frame 3 at offset ${f.compressedOffset}`));
  });

  it('decodes a frame queued behind another (read-ahead) when that one ends, and drops one left', async () => {
    const z = await SeekableZstdFile.open(bundle);
    try {
      const pool: Buffer[] = [];
      const bufs = (): Buffer[] => Array.from({ length: 3 }, () => Buffer.allocUnsafeSlow(STREAM_CHUNK));
      const drain = async (s: Awaited<ReturnType<typeof z.stream>>): Promise<Buffer> => {
        const parts: Buffer[] = [];
        for (let p = await s.next(); p; p = await s.next()) {
          parts.push(Buffer.from(p));
          s.release(p);
        }
        return Buffer.concat(parts);
      };
      expect(z.frames.filter((f) => f.uncompressedSize > STREAM_CHUNK).length).toBeGreaterThanOrEqual(4);
      const one = await z.stream(1, bufs(), pool);
      const two = await z.stream(2, bufs(), pool, true);
      expect((await drain(one)).equals(await z.readFrame(1))).toBe(true);
      expect((await drain(two)).equals(await z.readFrame(2))).toBe(true);
      // A queued frame left before it starts gives its buffers back; it decodes as usual when asked again.
      const three = await z.stream(3, bufs(), pool);
      const left = await z.stream(4, bufs(), pool, true);
      left.close();
      expect((await drain(three)).equals(await z.readFrame(3))).toBe(true);
      const four = await z.stream(4, bufs(), pool);
      expect((await drain(four)).equals(await z.readFrame(4))).toBe(true);
    } finally {
      await z.close();
    }
  });

  it('names a blob whose bytes are not its digest, through the CLI with and without its fast path', async () => {
    // One byte of the first layer changed: its name and descriptor still say the original digest.
    const damaged = Buffer.from(layers[0]!);
    damaged[9 * MiB] = damaged[9 * MiB]! ^ 0xff;
    const file = join(dir, 'damaged-layer');
    await writeFile(file, damaged);
    const content = contentOf([file, ...(await layerFiles(layers.slice(1), 'undamaged'))], layers);
    const bad = join(dir, 'damaged.tar.zst');
    await writeImageArchive(bad, content, { compression: 'zstd', level: 1, frameSize: WALK_CHUNK + WALK_CHUNK / 2 });
    // The fast path (cli/fast-path.ts, no yargs) and the full parser (`--json=true` is not plain) agree.
    const fast = await run('node', [CLI, 'verify', '--json', bad]);
    const full = await run('node', [CLI, 'verify', '--json=true', bad]);
    expect([fast.code, full.code]).toEqual([4, 4]);
    const problems = (out: string): string[] => (JSON.parse(out) as Array<{ problems: string[] }>)[0]!.problems;
    // The blob against its name, and the layer against the config's diff_id.
    expect(problems(fast.stdout)).toEqual([
      `${bad}: entry "blobs/sha256/${sha(layers[0]!).slice(7)}": digest ${sha(damaged)} [expected ${sha(layers[0]!)}]`,
      `${bad}: entry "manifest.json" item 0: Layers[0] "blobs/sha256/${sha(layers[0]!).slice(7)}": digest ${sha(damaged)} [expected diff_id ${sha(layers[0]!)}]`,
    ]);
    expect(problems(full.stdout)).toEqual(problems(fast.stdout));
    const out = join(dir, 'from-damaged.tar');
    const x = await run('node', [CLI, 'extract', bad, 'rancher/streamed-0:v1', '-o', out]);
    expect(x.code).toBe(4);
    expect(x.stderr).toContain(`damaged.tar.zst: entry "blobs/sha256/${sha(layers[0]!).slice(7)}"`);
    expect(existsSync(out)).toBe(false);
  });

  it('names the frame whose size differs from what the seek table says', async () => {
    const table = (await readSeekTable(bundle))!;
    const buf = await readFile(bundle);
    // Seek table entries (after an 8-byte skippable frame header): compressed size, then decompressed size, 4 bytes each.
    const entry = table.frames[2]!;
    const at = table.offset + 8 + entry.index * 8 + 4;
    expect(buf.readUInt32LE(at)).toBe(entry.uncompressedSize);
    buf.writeUInt32LE(entry.uncompressedSize - 1000, at);
    const lying = join(dir, 'lying.tar.zst');
    await writeFile(lying, buf);
    const [v] = await verifyArchive([lying]);
    expect(v!.ok).toBe(false);
    expect(v!.problems.join('\n')).toMatch(/lying\.tar\.zst: frame 2 at offset \d+: expected \d+ decompressed bytes/);
  });
});

describe('piece buffers', () => {
  // A reader that leaves a frame half read opens its next stream with the old one's buffers: if
  // it took fresh ones while they were out, its pool would hold two sets (push's peak memory, issue 10).
  it('are all back in the pool once a stream closed mid-frame says it is closed', async () => {
    const z = await SeekableZstdFile.open(bundle);
    try {
      const frame = (await readSeekTable(bundle))!.frames.find((f) => f.uncompressedSize > 2 * STREAM_CHUNK)!;
      const pool: Buffer[] = [];
      const stream = await z.stream(frame.index, Array.from({ length: STREAM_DEPTH }, () => Buffer.allocUnsafeSlow(STREAM_CHUNK)), pool);
      const piece = (await stream.next())!;
      expect(piece.length).toBe(STREAM_CHUNK);
      await stream.close();
      // Every buffer but the piece in hand, none of them twice.
      expect(pool.length).toBe(STREAM_DEPTH - 1);
      expect(new Set(pool.map((b) => b.buffer)).size).toBe(STREAM_DEPTH - 1);
      expect(pool.every((b) => b.length === STREAM_CHUNK && b.buffer !== piece.buffer)).toBe(true);
    } finally {
      await z.close();
    }
  });
});

describe('the entry index (a skippable frame before the seek table)', () => {
  // Three images of 6 MiB layers in 5 MiB frames: the second layer's header sits in a frame
  // that holds none of the third image, so only an index lets extract skip that frame.
  const three = [seededText('indexed-a', 6 * MiB), seededText('indexed-b', 6 * MiB), seededText('indexed-c', 6 * MiB)];
  let indexed: string;
  let frameOfB: { compressedOffset: number; compressedSize: number };
  beforeAll(async () => {
    indexed = join(dir, 'indexed.tar.zst');
    await writeImageArchive(indexed, contentOf(await layerFiles(three, 'indexed'), three), { compression: 'zstd', level: 1, frameSize: 5 * MiB });
    const z = await SeekableZstdFile.open(indexed);
    try {
      const index = (await z.entryIndex())!;
      const b = index.find((e) => e.name === `blobs/sha256/${sha(three[1]!).slice(7)}`)!;
      const c = index.find((e) => e.name === `blobs/sha256/${sha(three[2]!).slice(7)}`)!;
      const f = z.frameAt(b.headerOffset);
      // The frame with B's header ends before C's header: C's frames are others.
      expect(f.uncompressedOffset + f.uncompressedSize).toBeLessThanOrEqual(c.headerOffset);
      frameOfB = f;
    } finally {
      await z.close();
    }
  });

  it('is invisible to the zstd CLI and lists every entry', async () => {
    const tar = join(dir, 'indexed.tar');
    await runOk('zstd', ['-q', '-d', '-f', indexed, '-o', tar]);
    const names = (await readTar(tar)).map((e) => e.name);
    expect((await runOk('zstd', ['-lv', indexed])).stdout).toMatch(/# Skippable Frames: 2\b/);
    const z = await SeekableZstdFile.open(indexed);
    try {
      expect((await z.entryIndex())!.map((e) => e.name)).toEqual(names);
    } finally {
      await z.close();
    }
  });

  it('lets extract decode only the frames holding the image: a damaged frame elsewhere does not matter', async () => {
    const buf = await readFile(indexed);
    buf.fill(0x55, frameOfB.compressedOffset + 20, frameOfB.compressedOffset + frameOfB.compressedSize - 8);
    const damaged = join(dir, 'indexed-damaged.tar.zst');
    await writeFile(damaged, buf);
    const out = join(dir, 'indexed-c.tar');
    await extractImage(damaged, 'rancher/streamed-2:v1', { output: out });
    expect((await readTar(out)).find((e) => e.name === `blobs/sha256/${sha(three[2]!).slice(7)}`)?.data.equals(three[2]!)).toBe(true);
    // The damage is real: the image whose frame it is does not come out, and verify names the frame.
    await expect(extractImage(damaged, 'rancher/streamed-1:v1', { output: join(dir, 'indexed-b.tar') })).rejects.toThrow(/frame \d+ at offset/);
    const [v] = await verifyArchive([damaged]);
    expect(v!.problems.join('\n')).toMatch(new RegExp(`frame \\d+ at offset ${frameOfB.compressedOffset}`));
  });

  it('refuses an index that does not describe the archive', async () => {
    const buf = await readFile(indexed);
    // Swap the names of B and C in the index (same length, so the frame stays well formed).
    const nameB = Buffer.from(sha(three[1]!).slice(7));
    const nameC = Buffer.from(sha(three[2]!).slice(7));
    const tail = buf.subarray(buf.length - 64 * 1024);
    const at = (name: Buffer): number => tail.lastIndexOf(name);
    const [b, c] = [at(nameB), at(nameC)];
    expect(b).toBeGreaterThan(0);
    expect(c).toBeGreaterThan(0);
    nameC.copy(tail, b);
    nameB.copy(tail, c);
    const lying = join(dir, 'indexed-lying.tar.zst');
    await writeFile(lying, buf);
    await expect(extractImage(lying, 'rancher/streamed-2:v1', { output: join(dir, 'lying-c.tar') })).rejects.toThrow(/the entry index names "blobs\/sha256\/[0-9a-f]+" \(\d+ bytes\) at offset \d+, the archive has "blobs\/sha256\/[0-9a-f]+"/);
    expect(existsSync(join(dir, 'lying-c.tar'))).toBe(false);
    const [v] = await verifyArchive([lying]);
    expect(v!.ok).toBe(false);
    expect(v!.problems.join('\n')).toMatch(/indexed-lying\.tar\.zst: entry index: item \d+ is "blobs\/sha256\/[0-9a-f]+" at offset \d+, the archive has "blobs\/sha256\/[0-9a-f]+" at offset \d+/);
    // The honest bundle's index agrees with its entries.
    const [good] = await verifyArchive([indexed]);
    expect(good!.problems).toEqual([]);
  });
});

describe('a reader after a frame that does not decode', () => {
  // The read loop gave its piece back to the stream, then the stream's next piece failed: the
  // reader still held the given-back piece and returned it to the pool when it moved on, beside
  // what the failed stream's close returned, so the next streams got a broken or shared buffer.
  // Readers are reused after errors (serve, push): one damaged frame must not touch later reads.
  it('reads a healthy frame right afterwards, and its pool holds distinct whole buffers', async () => {
    const table = (await readSeekTable(bundle))!;
    const big = table.frames.filter((f) => f.uncompressedSize > 2 * STREAM_CHUNK);
    const [bad, good] = [big[1]!, big[big.length - 1]!];
    const tar = join(dir, 'piece-pool.tar');
    await runOk('zstd', ['-q', '-d', '-f', bundle, '-o', tar]);
    const plain = await readFile(tar);
    const buf = await readFile(bundle);
    // Damage near the frame's end: its first piece decodes, a later one does not.
    buf.fill(0x55, bad.compressedOffset + Math.floor(bad.compressedSize * 0.7), bad.compressedOffset + bad.compressedSize - 8);
    const damaged = join(dir, 'piece-pool.tar.zst');
    await writeFile(damaged, buf);
    const z = await SeekableZstdFile.open(damaged);
    const pool: Buffer[] = [];
    const reader = seekableReader(z, { pool });
    const healthy = (): void => {
      expect(pool.every((b) => b.length === STREAM_CHUNK)).toBe(true);
      expect(new Set(pool.map((b) => b.buffer)).size).toBe(pool.length);
    };
    try {
      expect((await reader.read(bad.uncompressedOffset, STREAM_CHUNK / 2)).equals(plain.subarray(bad.uncompressedOffset, bad.uncompressedOffset + STREAM_CHUNK / 2))).toBe(true);
      await expect(reader.read(bad.uncompressedOffset, bad.uncompressedSize)).rejects.toThrow(/frame \d+ at offset/);
      for (let i = 0; i < 3; i++) {
        const got = await reader.read(good.uncompressedOffset, good.uncompressedSize);
        expect(sha(got)).toBe(sha(plain.subarray(good.uncompressedOffset, good.uncompressedOffset + good.uncompressedSize)));
        healthy();
        // Back into the damaged frame and out again: the same error, the same healthy pool.
        await expect(reader.read(bad.uncompressedOffset, bad.uncompressedSize)).rejects.toThrow(/frame \d+ at offset/);
        healthy();
      }
    } finally {
      await reader.close();
    }
  });
});

describe('the readers of one bundle', () => {
  it('wait for a busy reader in their frame, but not for one that is stalled: they take another', async () => {
    const first = await SeekableZstdFile.open(bundle);
    const readers = new BundleReaders(bundle, first, 2);
    try {
      const entry = (await readSeekTable(bundle))!.frames.find((f) => f.uncompressedSize > 0 && f.uncompressedOffset > 0)!;
      const held = await readers.take(entry.uncompressedOffset);
      // A second read in the same frame waits for the busy reader (it would pass this way)...
      let second: Awaited<ReturnType<typeof readers.take>> | undefined;
      const taking = readers.take(entry.uncompressedOffset).then((r) => (second = r));
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(second).toBeUndefined();
      // ...but the busy one never moves (a streamed layer held while a bundle's frames are planned):
      // the read gets the other reader, and reads the same bytes.
      const started = Date.now();
      await taking;
      expect(Date.now() - started).toBeLessThan(2000);
      expect(second!.reader).not.toBe(held.reader);
      const want = await held.reader.read(entry.uncompressedOffset + 100, 1000);
      expect((await second!.reader.read(entry.uncompressedOffset + 100, 1000)).equals(want)).toBe(true);
      held.release(entry.uncompressedOffset + 1100);
      second!.release(entry.uncompressedOffset + 1100);
    } finally {
      await readers.close();
    }
  });
});
