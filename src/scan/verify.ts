/**
 * `verify`: one pass over an archive that hashes every file in it and checks
 * each blob against its name, then checks the metadata against the blobs:
 * index.json and every manifest, index and config parse, every descriptor
 * names a blob that is there with the recorded size, manifest.json names
 * files that exist, and index.json and manifest.json describe the same
 * images. A docker-save layout (manifest.json naming `<id>/layer.tar` or
 * `<hex>.tar` files) is checked as `docker load` and skopeo check it: each
 * config against the digest in its name, each layer against the config's
 * rootfs.diff_ids (a compressed layer file is decompressed on the way to
 * get its diff_id). An index may list platforms whose blobs were left out
 * (docker save from containerd's store does): a warning, not a fault.
 * Entry names and link targets that leave the archive are reported.
 * A `sha256sum*.txt` beside the file that lists it is checked as well.
 * Problems are collected, not thrown, so one run names everything wrong.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, join, posix } from 'node:path';
import { AirpackError } from '../errors.js';
import { formatPlatform, isAttestation } from '../platform/platform.js';
import { ArchiveEntry, MediaType, METADATA_ENTRIES } from '../spec/media-types.js';
import { decompressor, layerCompression } from '../blob/decompress.js';
import type { Transform } from 'node:stream';
import type { Descriptor, DockerManifestEntry, ImageIndex } from '../spec/types.js';
import type { TarEntry } from '../tar/entry.js';
import { blobEntryName, isIndexType, parseDockerManifest, parseIndex, parseJson, parseManifest, safeEntryPath } from '../image/documents.js';
import { entryName, walkArchive, type ArchiveWalk } from '../source/archive-walk.js';
import { isAirpackError, toAirpackError } from '../errors.js';
import type { ProgressListener } from '../progress.js';
import type { IndexedEntry } from '../zstd/entry-index.js';
import { SeekableZstdFile } from '../zstd/frame-reader.js';

export interface VerifyResult {
  path: string;
  ok: boolean;
  /** What is wrong, one line each, naming the entry. */
  problems: string[];
  /** Worth knowing, not wrong (e.g. a foreign layer left out on purpose). */
  warnings: string[];
  compression: string;
  entries: number;
  blobs: number;
  /** Uncompressed bytes of blob data hashed. */
  blobBytes: number;
  images: number;
  /** The checksum file that listed this archive, when one did. */
  checksumFile?: string;
  /** Whether the archive's sha256 is the one that file lists. */
  checksumOk?: boolean;
  seconds: number;
}

const KEEP_JSON = 4 * 1024 * 1024;
const HEX64 = /^[a-f0-9]{64}$/;
/** The digest in a docker-save config name: `<hex>.json`, `blobs/sha256/<hex>`, crane's `sha256:<hex>`. */
const CONFIG_HEX = /(?:^|\/|sha256:)([a-f0-9]{64})(?:\.json)?$/;

interface EntryInfo {
  entry: TarEntry;
  digest?: string;
  /** sha256 of the decompressed bytes, for a gzip or zstd file outside blobs/ (a docker-save layer). */
  uncompressedDigest?: string;
  /** The file starts with gzip or zstd magic. */
  compressed?: boolean;
}

/** Image config media types: their blobs must be JSON. An artifact's config may be anything. */
const CONFIG_TYPES = new Set<string>([MediaType.ociConfig, MediaType.dockerConfig]);

/**
 * The sha256 of a compressed entry's decompressed bytes, fed chunk by chunk
 * as the walk passes them; `finish` resolves once the decompressor is done.
 */
class UncompressedDigest {
  private readonly hash = createHash('sha256');
  private readonly decoder: Transform;
  private readonly done: Promise<string | undefined>;

  constructor(kind: 'gzip' | 'zstd') {
    this.decoder = decompressor(kind)!;
    this.decoder.on('data', (c: Buffer) => this.hash.update(c));
    this.done = new Promise((resolve) => {
      this.decoder.on('end', () => resolve(`sha256:${this.hash.digest('hex')}`));
      // Undecodable data has no diff_id; the layer check reports the mismatch.
      this.decoder.on('error', () => resolve(undefined));
    });
  }

  write(chunk: Buffer): Promise<void> | void {
    if (this.decoder.destroyed) return;
    // Copy: the chunk is a view that is reused once the walk moves on.
    if (this.decoder.write(Buffer.from(chunk))) return;
    // Wait for room, or for the decoder to fail or finish (then it never drains).
    return new Promise<void>((resolve) => {
      const done = (): void => {
        this.decoder.off('drain', done);
        this.decoder.off('close', done);
        resolve();
      };
      this.decoder.once('drain', done);
      this.decoder.once('close', done);
    });
  }

  finish(): Promise<string | undefined> {
    this.decoder.end();
    return this.done;
  }
}

/** Resolves a link target relative to its entry; undefined when it leaves the archive. */
function linkTarget(entry: TarEntry): string | undefined {
  const target = entry.linkname;
  if (target === '' || posix.isAbsolute(target)) return undefined;
  // Hard links name archive paths; symlinks are relative to the link's directory.
  const joined = entryName(entry.type === 'hardlink' ? target : posix.join(posix.dirname(entry.name), target));
  return joined === '..' || joined.startsWith('../') ? undefined : joined;
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Looks for `sha256sum*.txt` beside `path` that lists its base name; returns [file, expected hex]. */
export async function findChecksum(path: string): Promise<[string, string] | undefined> {
  const dir = dirname(path);
  const base = basename(path);
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => /^sha256sums?[-_.].*\.txt$|^sha256sums?\.txt$/i.test(n)).sort();
  } catch {
    return undefined;
  }
  for (const n of names) {
    const text = await readFile(join(dir, n), 'utf8').catch(() => '');
    for (const line of text.split(/\r?\n/)) {
      const m = /^([a-fA-F0-9]{64})\s+\*?(.+?)\s*$/.exec(line);
      if (m && (m[2] === base || basename(m[2]!) === base)) return [join(dir, n), m[1]!.toLowerCase()];
    }
  }
  return undefined;
}

/** A bundle's entry index must list exactly the entries the walk met, where it met them. */
async function checkEntryIndex(path: string, walked: readonly IndexedEntry[], problems: string[]): Promise<void> {
  let index: IndexedEntry[] | undefined;
  try {
    const z = await SeekableZstdFile.open(path);
    try {
      index = await z.entryIndex();
    } finally {
      await z.close();
    }
  } catch (err) {
    problems.push(toAirpackError(err, path).message);
    return;
  }
  if (!index) return;
  const differs = index.length !== walked.length ? index.length : index.findIndex((e, i) => e.name !== walked[i]!.name || e.headerOffset !== walked[i]!.headerOffset || e.size !== walked[i]!.size);
  if (differs < 0) return;
  const want = walked[differs];
  const got = index[differs];
  problems.push(
    `${path}: entry index: item ${differs} is ${got ? `${JSON.stringify(got.name)} at offset ${got.headerOffset}` : 'missing'}, the archive has ${want ? `${JSON.stringify(want.name)} at offset ${want.headerOffset}` : 'no more entries'}`,
  );
}

/** Verifies one archive. Throws only when the file cannot be opened at all. */
export interface VerifyOptions {
  /** Progress: a 'verify' phase per archive, then the bytes hashed. */
  onProgress?: ProgressListener;
}

export async function verifyOne(path: string, options: VerifyOptions = {}): Promise<VerifyResult> {
  const { onProgress } = options;
  const started = performance.now();
  const problems: string[] = [];
  const warnings: string[] = [];
  const entries = new Map<string, EntryInfo>();
  const json = new Map<string, Buffer>();
  let hash: Hash | undefined;
  let hashEntry: TarEntry | undefined;
  let inflating: UncompressedDigest | undefined;
  let firstChunk = false;
  let compressed = false;
  /** The entry's first bytes while fewer than 4 have come (chunks are rarely that short). */
  let head = Buffer.alloc(0);
  let entryBytes = 0;
  let blobBytes = 0;
  let blobs = 0;
  const walked: IndexedEntry[] = [];
  let complete = false;
  let walk: ArchiveWalk;
  try {
    walk = await walkArchive(path, {
      // Called at each entry's header, before its data: every regular file is hashed.
      want: (e) => {
        hashEntry = e.type === 'file' ? e : undefined;
        hash = hashEntry ? createHash('sha256') : undefined;
        inflating = undefined;
        firstChunk = true;
        compressed = false;
        head = Buffer.alloc(0);
        entryBytes = 0;
        return e.type === 'file' && e.size <= KEEP_JSON;
      },
      maxEntrySize: KEEP_JSON,
      onChunk: (entry, chunk) => {
        if (entry !== hashEntry) return;
        hash!.update(chunk);
        blobBytes += chunk.length;
        entryBytes += chunk.length;
        onProgress?.({ type: 'progress', phase: 'verify', n: chunk.length });
        if (firstChunk) {
          // The compression is known from the first 4 bytes, whichever chunks they come in. Nothing
          // is copied unless they come in pieces: a copy of each entry's first piece (2 MiB then) cost
          // 20 ms of a 527 MB verify (the piece itself goes back to the decoder once hashed).
          if (head.length + chunk.length < 4 && entryBytes < entry.size) {
            head = Buffer.concat([head, chunk]);
            return;
          }
          firstChunk = false;
          const first = head.length > 0 ? Buffer.concat([head, chunk]) : chunk;
          const kind = layerCompression(first.subarray(0, 4));
          compressed = kind !== 'none';
          // A blob is checked against its name; only a docker-save layer file needs its plain bytes hashed.
          if (compressed && !entryName(entry.name).startsWith(ArchiveEntry.blobsDir)) inflating = new UncompressedDigest(kind as 'gzip' | 'zstd');
          return inflating?.write(first);
        }
        return inflating?.write(chunk);
      },
    });
  } catch (err) {
    // Refused at open (a zstd file cut short): a finding about this file, as one found while walking it.
    const e = toAirpackError(err, path);
    if (!isAirpackError(e, 'ARCHIVE_INVALID')) throw e;
    return { path, ok: false, problems: [e.message], warnings, compression: 'unknown', entries: 0, blobs: 0, blobBytes: 0, images: 0, seconds: (performance.now() - started) / 1000 };
  }
  onProgress?.({ type: 'phase', phase: 'verify', what: path, ...(walk.tarBytes !== undefined ? { totalBytes: walk.tarBytes } : {}) });
  const at = (name: string): string => `${path}: entry ${JSON.stringify(name)}`;
  const it = walk.entries;
  try {
    for (;;) {
      let r;
      try {
        r = await it.next();
      } catch (err) {
        problems.push(toAirpackError(err, path).message);
        break;
      }
      if (r.done) {
        complete = true;
        if (r.value?.zeroBlocks === 0 && walk.mode !== 'directory') warnings.push(`${path}: ends after its last entry without the end-of-archive marker (read as complete, as Go's archive/tar and GNU tar do)`);
        break;
      }
      const { entry, data } = r.value;
      const name = entry.name;
      const norm = entryName(name);
      if (posix.isAbsolute(name) || norm === '..' || norm.startsWith('../')) {
        problems.push(`${at(name)}: path points outside the archive`);
        continue;
      }
      if (entry.type === 'symlink' || entry.type === 'hardlink') {
        if (linkTarget(entry) === undefined) problems.push(`${at(name)}: ${entry.type} to ${JSON.stringify(entry.linkname)} points outside the archive`);
      } else if (entry.type !== 'file' && entry.type !== 'directory' && entry.type !== 'pax-global') {
        problems.push(`${at(name)}: unexpected ${entry.type} entry in an image archive`);
      }
      const info: EntryInfo = { entry };
      if (entry.type === 'file' && entry === hashEntry) {
        const got = hash!.digest('hex');
        info.digest = `sha256:${got}`;
        if (compressed) info.compressed = true;
        if (inflating) {
          const plain = await inflating.finish();
          if (plain) info.uncompressedDigest = plain;
        }
        if (!METADATA_ENTRIES.includes(norm)) blobs++;
        if (norm.startsWith(ArchiveEntry.blobsDir)) {
          const hex = norm.slice(ArchiveEntry.blobsDir.length);
          if (!HEX64.test(hex)) problems.push(`${at(name)}: blob name is not a sha256 hex digest`);
          else if (got !== hex) problems.push(`${at(name)}: digest sha256:${got} [expected sha256:${hex}]`);
        }
      }
      if (entries.has(norm)) warnings.push(`${at(name)}: appears more than once; the last one counts`);
      entries.set(norm, info);
      walked.push({ name, headerOffset: entry.headerOffset, size: entry.size });
      if (data && (data[0] === 0x7b || data[0] === 0x5b || METADATA_ENTRIES.includes(norm))) json.set(norm, data);
    }
  } finally {
    await it.return(undefined);
  }
  if (walk.seekTable && complete) await checkEntryIndex(path, walked, problems);

  const resolve = (name: string): EntryInfo | undefined => {
    let info = entries.get(entryName(name));
    for (let i = 0; i < 8 && info && (info.entry.type === 'symlink' || info.entry.type === 'hardlink'); i++) {
      const t = linkTarget(info.entry);
      info = t === undefined ? undefined : entries.get(t);
    }
    return info;
  };
  const checkDescriptor = (d: Descriptor, what: string, sparse = false): boolean => {
    const name = blobEntryName(d.digest);
    if (!name) {
      problems.push(`${what}: digest ${JSON.stringify(d.digest)} is not sha256:<hex>`);
      return false;
    }
    const info = resolve(name);
    if (!info) {
      if (d.urls && d.urls.length > 0) warnings.push(`${what}: foreign layer ${d.digest} is not in the archive (it would be fetched from ${d.urls[0]})`);
      else if (sparse) warnings.push(`${what}: ${d.platform ? `platform ${formatPlatform(d.platform)}` : `manifest ${d.digest}`} is listed but not in the archive (a sparse index, as docker save from containerd writes)`);
      else problems.push(`${what}: blob ${name} is missing`);
      return false;
    }
    if (info.entry.size !== d.size) {
      problems.push(`${what}: blob ${name} has ${info.entry.size} bytes [expected ${d.size}]`);
      return false;
    }
    return true;
  };

  let index: ImageIndex | undefined;
  let docker: DockerManifestEntry[] | undefined;
  const tryParse = <T>(fn: () => T): T | undefined => {
    try {
      return fn();
    } catch (err) {
      problems.push((err as Error).message);
      return undefined;
    }
  };
  const indexData = json.get(ArchiveEntry.ociIndex);
  if (entries.has(ArchiveEntry.ociIndex)) index = indexData ? tryParse(() => parseIndex(indexData, at('index.json'))) : (problems.push(`${at('index.json')}: not valid JSON`), undefined);
  const dockerData = json.get(ArchiveEntry.dockerManifest);
  if (entries.has(ArchiveEntry.dockerManifest)) docker = dockerData ? tryParse(() => parseDockerManifest(dockerData, path)) : (problems.push(`${at('manifest.json')}: not valid JSON`), undefined);
  if (!entries.has(ArchiveEntry.ociIndex) && !entries.has(ArchiveEntry.dockerManifest)) problems.push(`${path}: neither manifest.json nor index.json; not an image archive`);

  const indexConfigs = new Set<string>();
  let images = 0;
  const visit = (d: Descriptor, what: string, depth: number, sparse = false): void => {
    if (!checkDescriptor(d, what, sparse) || depth > 8) return;
    const name = blobEntryName(d.digest)!;
    const data = json.get(name);
    if (!data) {
      problems.push(`${what}: blob ${name} is not JSON`);
      return;
    }
    if (isIndexType(d.mediaType)) {
      const nested = tryParse(() => parseIndex(data, `${what} (${name})`));
      // An index may hold only some of its children; none at all is a fault.
      const present = nested?.manifests.some((c) => resolve(blobEntryName(c.digest) ?? '') !== undefined) ?? false;
      nested?.manifests.forEach((c, i) => {
        if (!isAttestation(c.platform)) visit(c, `${what} manifests[${i}]`, depth + 1, present);
        else checkDescriptor(c, `${what} manifests[${i}]`, true);
      });
      return;
    }
    const m = tryParse(() => parseManifest(data, `${what} (${name})`));
    if (!m) return;
    if (checkDescriptor(m.config, `${what} config`)) {
      const cfgName = blobEntryName(m.config.digest)!;
      const cfg = json.get(cfgName);
      // An artifact's config may be anything (oras writes empty or binary ones); an image's must be JSON.
      const imageConfig = !m.config.mediaType || CONFIG_TYPES.has(m.config.mediaType);
      if (!cfg && imageConfig) problems.push(`${what} config: ${cfgName} is not JSON`);
      else if (cfg && imageConfig) tryParse(() => parseJson(cfg, `${what} config (${cfgName})`));
      indexConfigs.add(m.config.digest);
    }
    m.layers.forEach((l, i) => checkDescriptor(l, `${what} layers[${i}]`));
    // A docker schema 2 manifest may only name docker layer types: skopeo refuses others, containerd takes them.
    const foreign = (m.mediaType ?? d.mediaType) === MediaType.dockerManifest ? m.layers.find((l) => l.mediaType?.startsWith('application/vnd.oci.')) : undefined;
    if (foreign) warnings.push(`${what}: a docker manifest naming the OCI layer type ${foreign.mediaType}; skopeo refuses it, containerd and registries take it`);
  };
  index?.manifests.forEach((d, i) => {
    if (isAttestation(d.platform)) return;
    images++;
    visit(d, `${at('index.json')} manifests[${i}]`, 0);
  });

  docker?.forEach((e, i) => {
    const what = `${at('manifest.json')} item ${i}`;
    if (!index || index.manifests.length === 0) images++;
    const cfg = tryParse(() => safeEntryPath(e.Config, `${what} Config`));
    let diffIds: string[] | undefined;
    if (cfg !== undefined) {
      const cfgInfo = resolve(cfg);
      const cfgData = json.get(cfg) ?? json.get(resolveName(cfg));
      if (!cfgInfo) problems.push(`${what}: Config ${JSON.stringify(e.Config)} is not in the archive`);
      else if (!cfgData) problems.push(`${what}: Config ${JSON.stringify(e.Config)} is not JSON`);
      else diffIds = tryParse(() => parseJson<{ rootfs?: { diff_ids?: string[] } }>(cfgData, `${what}: Config ${JSON.stringify(e.Config)}`))?.rootfs?.diff_ids;
      // docker names a config by its digest (`<hex>.json`, crane `sha256:<hex>`): the bytes must be that digest.
      const hex = CONFIG_HEX.exec(cfg)?.[1];
      if (hex && cfgInfo?.digest && cfgInfo.digest !== `sha256:${hex}`) {
        // crane's `sha256:<hex>` is a digest and must hold; docker's `<hex>.json` is an image ID, which
        // docker load and skopeo do not check against the bytes: a mismatch there is worth a word only.
        const mismatch = `${what}: Config ${JSON.stringify(e.Config)}: digest ${cfgInfo.digest} [expected sha256:${hex}, as its name says]`;
        if (/(^|\/)sha256:/.test(cfg)) problems.push(mismatch);
        else warnings.push(mismatch);
      }
      if (index && index.manifests.length > 0 && hex && !indexConfigs.has(`sha256:${hex}`)) problems.push(`${what}: Config sha256:${hex} is not the config of any image in index.json`);
    }
    if (diffIds && diffIds.length !== e.Layers.length) problems.push(`${what}: ${e.Layers.length} layers, but its config lists ${diffIds.length} rootfs.diff_ids [expected one per layer]`);
    e.Layers.forEach((l, j) => {
      const p = tryParse(() => safeEntryPath(l, `${what} Layers[${j}]`));
      if (p === undefined) return;
      const layer = resolve(p);
      if (!layer) problems.push(`${what}: Layers[${j}] ${JSON.stringify(l)} is not in the archive`);
      // A compressed blob under blobs/ was checked against its name; its diff_id is the OCI manifest's business.
      else if (layer.digest && diffIds?.[j] && !(layer.compressed && p.startsWith(ArchiveEntry.blobsDir)) && ![layer.digest, layer.uncompressedDigest].includes(diffIds[j])) {
        // What skopeo and docker load check: the layer's plain bytes are the diff_id the config promises.
        problems.push(`${what}: Layers[${j}] ${JSON.stringify(l)}: ${layer.uncompressedDigest ? `uncompressed digest ${layer.uncompressedDigest}` : `digest ${layer.digest}`} [expected diff_id ${diffIds[j]}]`);
      }
    });
  });
  function resolveName(name: string): string {
    const info = resolve(name);
    return info ? entryName(info.entry.name) : name;
  }
  // manifest.json may describe fewer images than index.json: `ctr images export --all-platforms`
  // writes the host platform's only. What it does list must be in the index (checked above).

  const result: VerifyResult = {
    path,
    ok: false,
    problems,
    warnings,
    compression: walk.compression,
    entries: entries.size,
    blobs,
    blobBytes,
    images,
    seconds: 0,
  };
  const sums = await findChecksum(path);
  if (sums) {
    result.checksumFile = sums[0];
    const got = await sha256File(path);
    result.checksumOk = got === sums[1];
    if (!result.checksumOk) problems.push(`${path}: sha256 ${got} [expected ${sums[1]} from ${sums[0]}]`);
  }
  result.ok = problems.length === 0;
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

/** Verifies each archive in turn. */
export async function verifyArchive(paths: readonly string[], options: VerifyOptions = {}): Promise<VerifyResult[]> {
  const out: VerifyResult[] = [];
  for (const p of paths) out.push(await verifyOne(p, options));
  return out;
}

export function verifyFailure(results: readonly VerifyResult[]): AirpackError | undefined {
  const bad = results.filter((r) => !r.ok);
  if (bad.length === 0) return undefined;
  return new AirpackError('ARCHIVE_INVALID', `verify failed for ${bad.map((r) => `${r.path} (${r.problems.length} problem${r.problems.length === 1 ? '' : 's'})`).join(', ')}`);
}
