/**
 * Big frames stream from the decode worker in pieces (verify, extract): a
 * bundle of frames of several pieces each, checked against the bytes that
 * went in, and damage in a frame the worker streams (corrupt data, a seek
 * table that lies about a frame's size) named by frame.
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeImageArchive, type ArchiveContent } from '../src/archive/image-archive.js';
import { extractImage, verifyArchive } from '../src/scan/index.js';
import { readSeekTable, STREAM_CHUNK } from '../src/zstd/index.js';
import { readTar } from './helpers/tar.js';
import { seededText } from './support/fixtures.js';
import { makeTempDir, removeDir } from './support/util.js';

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const MiB = 1024 * 1024;

let dir: string;
let bundle: string;
const layers = [seededText('streamed-a', 16 * MiB + 12345), seededText('streamed-b', 7 * MiB + 999)];

/** Two images of one layer each: extracting the second jumps over the first's frames. */
function contentOf(layerFiles: string[]): ArchiveContent {
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

beforeAll(async () => {
  dir = await makeTempDir('airpack-streamed-');
  const files = await Promise.all(layers.map(async (l, i) => {
    const f = join(dir, `layer-${i}`);
    await writeFile(f, l);
    return f;
  }));
  bundle = join(dir, 'streamed.tar.zst');
  // Frames of 2.5 pieces: pieces end mid-frame and mid-entry, frames end mid-entry.
  await writeImageArchive(bundle, contentOf(files), { compression: 'zstd', level: 1, frameSize: 2 * STREAM_CHUNK + STREAM_CHUNK / 2 });
}, 60_000);

afterAll(() => removeDir(dir));

describe('frames streamed from the worker in pieces', () => {
  it('verifies, and extracts every layer byte for byte', async () => {
    const table = (await readSeekTable(bundle))!;
    expect(table.frames.filter((f) => f.uncompressedSize > 2 * STREAM_CHUNK).length).toBeGreaterThanOrEqual(3);
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
