/**
 * Golden outputs: the exact bytes `pull` and `bundle` write today from the
 * standard registry fixtures, pinned so a refactor of the read/write pipeline
 * can show that its outputs have not changed.
 *
 * The registry and the foreign-layer server listen on free ports, and their
 * `127.0.0.1:PORT` hosts end up in the archives: in image names (index.json
 * annotations, manifest.json RepoTags, `.txt` image lists) and in the Windows
 * manifests' foreign-layer URLs, which also changes those manifests' digests
 * and so the digests of everything that refers to them. Each artifact is
 * therefore pinned as it would be with both hosts renamed:
 *
 * - Each host becomes a placeholder of the same length (`<registry:port>`,
 *   `<blobhost:port>`; the servers are restarted until both have 5-digit
 *   ports, so the lengths match), and each digest of a blob whose bytes held
 *   a host (or such a digest) becomes the sha256 of its normalised bytes.
 *   Sizes and offsets stay as written; renamed entries get their header
 *   checksum recomputed (after checking the written one). The result is a
 *   valid, self-consistent archive, as if both hosts had those names.
 * - `tar`: sha256 of the whole tar after that normalisation, decompressed with
 *   the system `zstd -dc` / `gzip -dc` first for `.tar.zst` / `.tar.gz`. Every
 *   tar byte is pinned: headers, padding, order, end blocks.
 * - `entries`: the entries in order, `name size` (digests in names cut to 12
 *   hex characters: the full names are in `tar`), to show what moved when
 *   `tar` changes.
 * - `frames` (`.tar.zst`): the file frame by frame, from its seek table.
 *   `z U C SHA256`: a zstd frame of U bytes decompressed, C compressed, and
 *   the sha256 of its compressed bytes; a frame whose content holds a host
 *   (the metadata frame) is `z U ~ ~`, as its compressed bytes depend on the
 *   port (its content is pinned by `tar`). `s C SHA256`: a skippable frame
 *   (the entry index), normalised. `seek C`: the seek table (it holds the
 *   port-dependent frames' compressed sizes, so only its size is pinned).
 * - `gzip` (`.tar.gz`): the 10-byte gzip header; the deflate stream itself
 *   depends on the port and is pinned through `tar`.
 * - `text` (`.txt` side files): the normalised text itself; in sha256sum
 *   files each checksum is first checked against the file it names, then
 *   replaced by `<sha256 of NAME>`.
 *
 * Recorded on main at 16ed5a8; re-recorded for the source-digest annotations
 * (issue 13: index.json entries and new indexes grew, layer frames unchanged).
 * After an intended change, GOLDEN_RECORD=1
 * prints the actual table (as JSON) and GOLDEN_DUMP=DIR writes each
 * normalised tar to DIR, to diff with bsdtar.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle, pull } from '../src/index.js';
import type { StandardFixtures } from './support/fixtures.js';
import { startWorld, type World } from './helpers/world.js';

interface Golden {
  tar?: string;
  entries?: string[];
  frames?: string[];
  gzip?: string;
  text?: string;
}

// Artifacts that must come out alike share one entry.
const THREE_UNCOMPRESSED = {
  tar: 'f57132cae8b4649e40caeaa462db1d2b21a259eb637921fc7a992aecc8379454',
  entries: [
    'manifest.json 861',
    'index.json 1486',
    'oci-layout 30',
    'blobs/ type=5 0',
    'blobs/sha256/ type=5 0',
    'blobs/sha256/8cd9e0fb4480 420',
    'blobs/sha256/4d6ff37df8c8 329',
    'blobs/sha256/971aa0d1d74c 549',
    'blobs/sha256/770b493a16cc 403',
    'blobs/sha256/112b4cb738dd 549',
    'blobs/sha256/421f9f378292 403',
    'blobs/sha256/96315c16350a 36864',
    'blobs/sha256/27541d8cac2f 56832',
    'blobs/sha256/b16a96d011cd 10752',
    'blobs/sha256/ecf80c2af904 10752',
  ],
};

const SEVERAL_UNCOMPRESSED = {
  tar: '915f9664017677a2a9c9f1b6e1c5006904138c88ab6fc0fe314b205c7ac20561',
  entries: [
    'manifest.json 1719',
    'index.json 1686',
    'oci-layout 30',
    'blobs/ type=5 0',
    'blobs/sha256/ type=5 0',
    'blobs/sha256/faf44e8f09c3 549',
    'blobs/sha256/e3e8d85fe98f 403',
    'blobs/sha256/d653f0f507e4 549',
    'blobs/sha256/a94fbd2c64a8 418',
    'blobs/sha256/f7c7939d3a53 745',
    'blobs/sha256/8cd9e0fb4480 420',
    'blobs/sha256/4d6ff37df8c8 329',
    'blobs/sha256/facaaa93a818 420',
    'blobs/sha256/57ccff0d0af7 329',
    'blobs/sha256/7ea6b06198d3 765',
    'blobs/sha256/971aa0d1d74c 549',
    'blobs/sha256/770b493a16cc 403',
    'blobs/sha256/112b4cb738dd 549',
    'blobs/sha256/421f9f378292 403',
    'blobs/sha256/8170ed1cebf7 47104',
    'blobs/sha256/3e90d5532981 12800',
    'blobs/sha256/c0a10cd95f0e 47104',
    'blobs/sha256/da6a1da61ea9 12800',
    'blobs/sha256/96315c16350a 36864',
    'blobs/sha256/95b43166a3cc 36864',
    'blobs/sha256/27541d8cac2f 56832',
    'blobs/sha256/b16a96d011cd 10752',
    'blobs/sha256/ecf80c2af904 10752',
  ],
};

// dockerlist:2.0 is bundled whole (linux/amd64 and linux/arm64 are every child of its list): since issue 10
// its list is the registry's own bytes (aecade946714), not one airpack wrote over them (5714f9ab45fe); the
// single-platform entry beside it names its source index in org.airpack.source.digest (issue 13).
const SEVERAL_ORIGINAL = {
  tar: '0c7282badee8b80143d353f3760701d746f495b9963264f0eeaa9109dd43975a',
  entries: [
    'manifest.json 1719',
    'index.json 1398',
    'oci-layout 30',
    'blobs/ type=5 0',
    'blobs/sha256/ type=5 0',
    'blobs/sha256/2aaefc49f827 558',
    'blobs/sha256/e3e8d85fe98f 403',
    'blobs/sha256/cce7a4a0c7b5 558',
    'blobs/sha256/a94fbd2c64a8 418',
    'blobs/sha256/452dd7329dbc 491',
    'blobs/sha256/14a743dc15a4 425',
    'blobs/sha256/4d6ff37df8c8 329',
    'blobs/sha256/d854cf7d8da5 425',
    'blobs/sha256/57ccff0d0af7 329',
    'blobs/sha256/aecade946714 529',
    'blobs/sha256/bc4bcca3e192 558',
    'blobs/sha256/770b493a16cc 403',
    'blobs/sha256/4a0c91357c33 558',
    'blobs/sha256/421f9f378292 403',
    'blobs/sha256/c73a18413934 40557',
    'blobs/sha256/985fda9e80f6 6516',
    'blobs/sha256/01e49a2e9081 40565',
    'blobs/sha256/7ebcc58e722e 6508',
    'blobs/sha256/c1c25043eed6 30548',
    'blobs/sha256/271e61dd5137 30555',
    'blobs/sha256/82b9863a3ed9 50568',
    'blobs/sha256/11fae08d6731 4498',
    'blobs/sha256/11e97b0e8408 4504',
  ],
};

const EXPECTED: Record<string, Golden> = {
  // pull, --layers original
  'pull-single-original.tar': {
    tar: 'e727f5a3b525a780564e290d0b79dfae5222c9ece09da305b73c784a9ff5a53c',
    entries: [
      'manifest.json 236',
      'index.json 417',
      'oci-layout 30',
      'blobs/ type=5 0',
      'blobs/sha256/ type=5 0',
      'blobs/sha256/38d54b5b2a9a 403',
      'blobs/sha256/1fd9661d5cf5 329',
      'blobs/sha256/c6e281f55420 24544',
    ],
  },
  'pull-multi-amd64-arm64-original.tar': {
    tar: '2bae23204c90b41b99fb4836df5ff59c5f08d64b7e8e53b558ac6e721708de00',
    entries: [
      'manifest.json 623',
      'index.json 460',
      'oci-layout 30',
      'blobs/ type=5 0',
      'blobs/sha256/ type=5 0',
      'blobs/sha256/2aaefc49f827 558',
      'blobs/sha256/e3e8d85fe98f 403',
      'blobs/sha256/cce7a4a0c7b5 558',
      'blobs/sha256/a94fbd2c64a8 418',
      'blobs/sha256/452dd7329dbc 491',
      'blobs/sha256/c73a18413934 40557',
      'blobs/sha256/985fda9e80f6 6516',
      'blobs/sha256/01e49a2e9081 40565',
      'blobs/sha256/7ebcc58e722e 6508',
    ],
  },
  'pull-windows-ltsc2022-original.tar': {
    tar: '6cefe71d3020ffd2e4fc438f6890c60960af9ee30cccac2a797aca4a6cfc51b0',
    entries: [
      'manifest.json 318',
      'index.json 587',
      'oci-layout 30',
      'blobs/ type=5 0',
      'blobs/sha256/ type=5 0',
      'blobs/sha256/036f80d65595 729',
      'blobs/sha256/7a57e8ab1350 408',
      'blobs/sha256/254bcc4ca2c3 77639',
      'blobs/sha256/ce901b1634ae 16629',
    ],
  },
  // pull, --layers uncompressed: straight into the tar (sizes predicted), and through a blob store (cacheDir)
  'pull-three-uncompressed-direct.tar': { ...THREE_UNCOMPRESSED },
  'pull-three-uncompressed-store.tar': { ...THREE_UNCOMPRESSED },
  // bundle -o FILE, zstd level 3 (64 KiB frames, default frames); gzip and plain tar with original layers
  'bundle-several-64k-frames.tar.zst': {
    ...SEVERAL_UNCOMPRESSED,
    frames: [
      'z 24576 ~ ~',
      'z 65536 47112 4be26a41521ce45bedf84ee64edff31845bdb9c06164246315fa6155f9196ad0',
      'z 65536 49974 41bc3fbfb5fbe997c69baef4199d830e746f425e5ecb693817e02c9b39e26006',
      'z 65536 57512 c8ea3cea1126a49ab8ac2ae71ca97b852442a92654bd173bea746fd25552ae01',
      'z 65536 52889 e708f8f3344249d8d86d230d207f8a444425f86ed009b78966968f8be090bf9c',
      'z 15360 6492 fc5bbf1323491d7827607f26e4e11567e1e0fd94edddce2f95a575535002e047',
      's 2296 9ddbaca8ab985b5015507a34f026006ca585c18aa1a51ec9a5ed6057be70206a',
      'seek 73',
    ],
  },
  'bundle-several.tar.zst': {
    ...SEVERAL_UNCOMPRESSED,
    frames: [
      'z 24576 ~ ~',
      'z 277504 212898 aee81fd0575b3e6c1281b18c829f5814e760efbfbd25a0da87952348968a9ebc',
      's 2296 9ddbaca8ab985b5015507a34f026006ca585c18aa1a51ec9a5ed6057be70206a',
      'seek 41',
    ],
  },
  'bundle-several-original.tar.gz': {
    ...SEVERAL_ORIGINAL,
    gzip: '1f8b0800000000000003',
  },
  'bundle-several-original.tar': { ...SEVERAL_ORIGINAL },
  // bundle --output-dir --preset rke2, linux/amd64 + windows/amd64:ltsc2022, zstd level 3
  'rke2/rke2-images.linux-amd64.tar.zst': {
    tar: '8ef1f8c61efaf7ce019800b1e45edfb14b29d73c4b37e314a280fbfbc5501af5',
    frames: [
      'z 10240 ~ ~',
      'z 89600 67163 d588537736b70b55c7fc6c67b84c768f700d3dfb1a07baf7daf563a190f568ef',
      's 804 c9efcf72782056516dca5ad52eeeeec57a1f743a504752e3ce1109aabdae89a7',
      'seek 41',
    ],
    entries: [
      'manifest.json 549',
      'index.json 1176',
      'oci-layout 30',
      'blobs/ type=5 0',
      'blobs/sha256/ type=5 0',
      'blobs/sha256/faf44e8f09c3 549',
      'blobs/sha256/e3e8d85fe98f 403',
      'blobs/sha256/6f283fbee0a5 420',
      'blobs/sha256/a639119fa5cc 329',
      'blobs/sha256/8170ed1cebf7 47104',
      'blobs/sha256/3e90d5532981 12800',
      'blobs/sha256/611e45bc45db 27136',
    ],
  },
  'rke2/rke2-images.linux-amd64.txt': {
    text: '<registry:port>/library/multi:1.0\n<registry:port>/windows/servercore:ltsc\n',
  },
  'rke2/rke2-windows-ltsc2022-amd64-images.tar.zst': {
    tar: '958128ce8f9b302fbe405da98ebf2f232f7d1eabc1b98729321be8c29a344454',
    frames: [
      'z 7168 ~ ~',
      'z 111616 94044 556f47c81aa40eb6e81ac0b321581ac12b161832df9cdbc70251a9ada9e6100e',
      's 526 117721d0e301547f03d0ec99e2cd6e1d80bd7faa4503a4cf995b82adedf8b1e8',
      'seek 41',
    ],
    entries: [
      'manifest.json 318',
      'index.json 698',
      'oci-layout 30',
      'blobs/ type=5 0',
      'blobs/sha256/ type=5 0',
      'blobs/sha256/d38327f54592 577',
      'blobs/sha256/7a57e8ab1350 408',
      'blobs/sha256/99349fcc2c44 87040',
      'blobs/sha256/78ddd9d4398e 22528',
    ],
  },
  'rke2/rke2-windows-ltsc2022-amd64-images.txt': {
    text: '<registry:port>/windows/servercore:ltsc\n',
  },
  'rke2/sha256sum-amd64.txt': {
    text: '<sha256 of rke2-images.linux-amd64.tar.zst>  rke2-images.linux-amd64.tar.zst\n<sha256 of rke2-images.linux-amd64.txt>  rke2-images.linux-amd64.txt\n<sha256 of rke2-windows-ltsc2022-amd64-images.tar.zst>  rke2-windows-ltsc2022-amd64-images.tar.zst\n<sha256 of rke2-windows-ltsc2022-amd64-images.txt>  rke2-windows-ltsc2022-amd64-images.txt\n',
  },
};

// ---------------------------------------------------------------------------
// The artifacts

const LINUX_TWO = ['linux/amd64', 'linux/arm64'];

/** Writes every artifact under `dir`; keys of EXPECTED are paths relative to it. */
async function produce(fx: StandardFixtures, dir: string): Promise<void> {
  const out = (name: string): string => join(dir, name);
  await mkdir(dir, { recursive: true });
  // 1-3: pull, registry blobs as they are.
  await pull({ images: [fx.single.ref], layers: 'original', output: out('pull-single-original.tar') });
  await pull({ images: [fx.multi.ref], platforms: LINUX_TWO, layers: 'original', output: out('pull-multi-amd64-arm64-original.tar') });
  await pull({ images: [fx.windows.ref], platforms: ['windows/amd64:ltsc2022'], layers: 'original', output: out('pull-windows-ltsc2022-original.tar') });
  // 4-5: uncompressed layers, straight into the tar (sizes predicted) and through a blob store.
  const three = [fx.dockerlist.ref, fx.sharedA.ref, fx.sharedB.ref];
  await pull({ images: three, layers: 'uncompressed', output: out('pull-three-uncompressed-direct.tar') });
  await pull({ images: three, layers: 'uncompressed', cacheDir: out('cache'), output: out('pull-three-uncompressed-store.tar') });
  // 6-7: single-archive bundles.
  const several = { images: [fx.multi.ref, fx.dockerlist.ref, fx.sharedA.ref, fx.sharedB.ref], platforms: LINUX_TWO, skipMissing: true };
  await bundle({ ...several, level: 3, frameSize: 64 * 1024, output: out('bundle-several-64k-frames.tar.zst') });
  await bundle({ ...several, level: 3, output: out('bundle-several.tar.zst') });
  await bundle({ ...several, layers: 'original', output: out('bundle-several-original.tar.gz') });
  await bundle({ ...several, layers: 'original', output: out('bundle-several-original.tar') });
  // 8: an rke2 release set, Linux and Windows.
  await bundle({
    images: [fx.multi.ref, fx.windows.ref],
    windowsImages: [fx.windows.ref],
    platforms: ['linux/amd64', 'windows/amd64:ltsc2022'],
    preset: 'rke2',
    level: 3,
    outputDir: out('rke2'),
  });
}

// ---------------------------------------------------------------------------
// Normalisation: the servers' hosts and the digests that depend on them

const REGISTRY_PLACEHOLDER = '<registry:port>';
const BLOBHOST_PLACEHOLDER = '<blobhost:port>';

const sha256hex = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

class Normaliser {
  /** Port-dependent digest (hex) -> sha256 of the blob's normalised bytes. */
  readonly digests = new Map<string, string>();

  constructor(private readonly hosts: ReadonlyArray<readonly [string, string]>) {}

  clone(): Normaliser {
    const copy = new Normaliser(this.hosts);
    for (const [k, v] of this.digests) copy.digests.set(k, v);
    return copy;
  }

  apply(buf: Buffer): Buffer {
    let s = buf.toString('latin1');
    for (const [from, to] of this.hosts) s = s.split(from).join(to);
    for (const [from, to] of this.digests) s = s.split(from).join(to);
    return Buffer.from(s, 'latin1');
  }

  /** Maps the digest of every blob whose bytes change under normalisation, until nothing more changes. */
  learn(blobs: ReadonlyArray<readonly [string, Buffer]>): void {
    for (let changed = true; changed; ) {
      changed = false;
      for (const [digest, bytes] of blobs) {
        const norm = this.apply(bytes);
        if (norm.equals(bytes)) continue;
        const placeholder = sha256hex(norm);
        if (this.digests.get(digest) !== placeholder) {
          this.digests.set(digest, placeholder);
          changed = true;
        }
      }
    }
  }
}

/** Every manifest, index, config and attestation blob the fixtures pushed, by digest (hex). */
function fixtureBlobs(fx: StandardFixtures): Array<[string, Buffer]> {
  const blobs: Array<[string, Buffer]> = [];
  const add = (b: { digest: string; body: Buffer }): number => blobs.push([b.digest.slice('sha256:'.length), b.body]);
  for (const index of [fx.multi, fx.dockerlist, fx.windows]) {
    add(index.index);
    for (const image of index.images) (add(image.manifest), add(image.config));
    for (const att of index.attestations) (add(att.manifest), add(att.config));
  }
  for (const image of [fx.single, fx.sharedA, fx.sharedB]) (add(image.manifest), add(image.config));
  return blobs;
}

// ---------------------------------------------------------------------------
// Reading the artifacts (independently of src/)

interface RawEntry {
  name: string;
  headerOffset: number;
  type: string;
  size: number;
  data: Buffer;
}

function tarEntries(tar: Buffer): RawEntry[] {
  const entries: RawEntry[] = [];
  const field = (h: Buffer, from: number, len: number): string => h.subarray(from, from + len).toString('latin1').replace(/\0.*$/s, '');
  for (let off = 0; off + 512 <= tar.length; ) {
    const header = tar.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    const prefix = field(header, 345, 155);
    const name = prefix ? `${prefix}/${field(header, 0, 100)}` : field(header, 0, 100);
    const size = parseInt(field(header, 124, 12).trim() || '0', 8);
    entries.push({ name, headerOffset: off, type: field(header, 156, 1) || '0', size, data: tar.subarray(off + 512, off + 512 + size) });
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return entries;
}

/** Sum of a header's bytes with the checksum field counted as spaces. */
function headerSum(header: Buffer): number {
  let sum = 8 * 0x20;
  for (let i = 0; i < 512; i++) if (i < 148 || i >= 156) sum += header[i]!;
  return sum;
}

/**
 * `norm` applied to a whole tar. Renaming an entry (a digest in its name)
 * changes its header checksum, so each checksum is checked on the tar as
 * written and then recomputed, in the same format, for the normalised header.
 */
function normaliseTar(tar: Buffer, norm: Normaliser): Buffer {
  const out = norm.apply(tar);
  for (const e of tarEntries(tar)) {
    const raw = tar.subarray(e.headerOffset, e.headerOffset + 512);
    const field = raw.subarray(148, 156).toString('latin1');
    const digits = /^[0-7]+/.exec(field)?.[0] ?? '';
    if (parseInt(digits, 8) !== headerSum(raw)) throw new Error(`${e.name}: bad header checksum ${JSON.stringify(field)}`);
    const header = out.subarray(e.headerOffset, e.headerOffset + 512);
    header.write(headerSum(header).toString(8).padStart(digits.length, '0'), 148, 'latin1');
  }
  return out;
}

function decompress(cmd: 'zstd' | 'gzip', input: Buffer): Buffer {
  const res = spawnSync(cmd, ['-dc'], { input, maxBuffer: 1 << 30 });
  if (res.status !== 0) throw new Error(`${cmd} -dc exited ${res.status}: ${res.stderr.toString()}`);
  return res.stdout;
}

const ZSTD_MAGIC = 0xfd2fb528;
const SEEKABLE_MAGIC = 0x8f92eab1;

function zstdFrames(file: Buffer, norm: Normaliser): string[] {
  const footer = file.subarray(file.length - 9);
  if (footer.readUInt32LE(5) !== SEEKABLE_MAGIC) return ['no seek table'];
  const count = footer.readUInt32LE(0);
  const entrySize = footer[4]! & 0x80 ? 12 : 8;
  const tableSize = 8 + count * entrySize + 9;
  const table = file.subarray(file.length - tableSize);
  const lines: string[] = [];
  let offset = 0;
  for (let i = 0; i < count; i++) {
    const c = table.readUInt32LE(8 + i * entrySize);
    const u = table.readUInt32LE(8 + i * entrySize + 4);
    const frame = file.subarray(offset, offset + c);
    offset += c;
    if (frame.readUInt32LE(0) !== ZSTD_MAGIC) {
      lines.push(`s ${c} ${sha256hex(norm.apply(frame))}`);
      continue;
    }
    const content = decompress('zstd', frame);
    if (content.length !== u) throw new Error(`frame ${i}: seek table says ${u} bytes, zstd gives ${content.length}`);
    lines.push(norm.apply(content).equals(content) ? `z ${u} ${c} ${sha256hex(frame)}` : `z ${u} ~ ~`);
  }
  if (offset + tableSize !== file.length) throw new Error(`frames end at ${offset}, seek table starts at ${file.length - tableSize}`);
  lines.push(`seek ${tableSize}`);
  return lines;
}

const shortName = (name: string): string => name.replace(/([0-9a-f]{12})[0-9a-f]{52}/g, '$1');

/** The Golden of one file under `dir`. */
async function actualGolden(dir: string, name: string, base: Normaliser): Promise<Golden> {
  const file = await readFile(join(dir, name));
  if (name.endsWith('.txt')) {
    let text = base.apply(file).toString('utf8');
    if (/(^|\/)sha256sum-[^/]*$/.test(name)) {
      const sumDir = join(dir, name, '..');
      const lines = [];
      for (const line of text.trimEnd().split('\n')) {
        const [sum, target] = line.split(/ [ *]/) as [string, string];
        expect(sum, `${name}: ${target}`).toBe(sha256hex(await readFile(join(sumDir, target))));
        lines.push(line.replace(sum, `<sha256 of ${target}>`));
      }
      text = `${lines.join('\n')}\n`;
    }
    return { text };
  }
  const zstd = name.endsWith('.zst');
  const gzip = name.endsWith('.gz');
  const tar = zstd ? decompress('zstd', file) : gzip ? decompress('gzip', file) : file;
  // Also map the digests of this archive's own port-dependent blobs (manifests airpack rewrote, if any).
  const norm = base.clone();
  norm.learn(tarEntries(tar).filter((e) => e.name.startsWith('blobs/sha256/')).map((e) => [e.name.slice('blobs/sha256/'.length), e.data] as const));
  const normTar = normaliseTar(tar, norm);
  if (process.env.GOLDEN_DUMP) await writeFile(join(process.env.GOLDEN_DUMP, name.replace(/\//g, '_')), normTar);
  return {
    tar: sha256hex(normTar),
    entries: tarEntries(normTar).map((e) => `${shortName(e.name)}${e.type === '0' ? '' : ` type=${e.type}`} ${e.size}`),
    ...(zstd ? { frames: zstdFrames(file, norm) } : {}),
    ...(gzip ? { gzip: file.subarray(0, 10).toString('hex') } : {}),
  };
}

async function listFiles(dir: string, sub = ''): Promise<string[]> {
  const names: string[] = [];
  for (const e of await readdir(join(dir, sub), { withFileTypes: true })) {
    const rel = sub ? `${sub}/${e.name}` : e.name;
    if (e.isDirectory()) names.push(...(await listFiles(dir, rel)));
    else names.push(rel);
  }
  return names.sort();
}

// ---------------------------------------------------------------------------

let world: World;
let outDir: string;
let base: Normaliser;
const actual: Record<string, Golden> = {};

/** A world whose two servers have 5-digit ports, so the placeholders are as long as the hosts. */
async function startGoldenWorld(): Promise<World> {
  for (let attempt = 0; ; attempt++) {
    const w = await startWorld('airpack-golden-');
    const blobHost = new URL(w.blobServer.url).host;
    if (w.registry.host.length === REGISTRY_PLACEHOLDER.length && blobHost.length === BLOBHOST_PLACEHOLDER.length) return w;
    await w.stop();
    if (attempt === 5) throw new Error(`no 5-digit ports after ${attempt + 1} tries (registry ${w.registry.host}, blob server ${blobHost})`);
  }
}

beforeAll(async () => {
  world = await startGoldenWorld();
  base = new Normaliser([
    [world.registry.host, REGISTRY_PLACEHOLDER],
    [new URL(world.blobServer.url).host, BLOBHOST_PLACEHOLDER],
  ]);
  base.learn(fixtureBlobs(world.fx));
  outDir = join(world.dir, 'out');
  await produce(world.fx, outDir);
  for (const name of await listFiles(outDir)) {
    if (name.startsWith('cache/')) continue;
    actual[name] = await actualGolden(outDir, name, base);
  }
  if (process.env.GOLDEN_RECORD) console.log(`const EXPECTED: Record<string, Golden> = ${JSON.stringify(actual, null, 2)};`);
}, 60_000);

afterAll(() => world?.stop());

describe('golden outputs', () => {
  it('writes exactly the pinned set of files', () => {
    expect(Object.keys(actual)).toEqual(Object.keys(EXPECTED).sort());
  });

  it.each(Object.keys(EXPECTED))('%s', (name) => {
    expect(actual[name]).toEqual(EXPECTED[name]);
  });

  it('writes the same bytes for uncompressed layers straight into the tar as through a blob store', async () => {
    const direct = await readFile(join(outDir, 'pull-three-uncompressed-direct.tar'));
    const store = await readFile(join(outDir, 'pull-three-uncompressed-store.tar'));
    expect(sha256hex(store)).toBe(sha256hex(direct));
  });
});
