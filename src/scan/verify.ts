/**
 * `verify`: one streaming pass over an archive that hashes every blob and
 * checks it against its name, then checks the metadata against the blobs:
 * index.json and every manifest, index and config parse, every descriptor
 * names a blob that is there with the recorded size, manifest.json names
 * files that exist, and index.json and manifest.json describe the same
 * images. Entry names and link targets that leave the archive are reported.
 * A `sha256sum*.txt` beside the file that lists it is checked as well.
 * Problems are collected, not thrown, so one run names everything wrong.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, join, posix } from 'node:path';
import { AirpackError } from '../errors.js';
import { isAttestation } from '../platform/platform.js';
import { ArchiveEntry } from '../spec/media-types.js';
import type { Descriptor, DockerManifestEntry, ImageIndex } from '../spec/types.js';
import type { TarEntry } from '../tar/entry.js';
import { blobEntryName, isIndexType, parseDockerManifest, parseIndex, parseJson, parseManifest, safeEntryPath } from '../image/documents.js';
import { entryName, walkArchive } from '../source/archive-walk.js';
import { toAirpackError } from '../errors.js';
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
  seconds: number;
}

const KEEP_JSON = 4 * 1024 * 1024;
const HEX64 = /^[a-f0-9]{64}$/;

interface EntryInfo {
  entry: TarEntry;
  digest?: string;
}

/** Resolves a link target relative to its entry; undefined when it leaves the archive. */
function linkTarget(entry: TarEntry): string | undefined {
  const target = entry.linkname;
  if (target === '' || posix.isAbsolute(target)) return undefined;
  // Hard links name archive paths; symlinks are relative to the link's directory.
  const joined = entry.type === 'hardlink' ? posix.normalize(target) : posix.normalize(posix.join(posix.dirname(entry.name), target));
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

/** Verifies one archive. Throws only when the file cannot be opened at all. */
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

export async function verifyOne(path: string): Promise<VerifyResult> {
  const started = performance.now();
  const problems: string[] = [];
  const warnings: string[] = [];
  const entries = new Map<string, EntryInfo>();
  const json = new Map<string, Buffer>();
  let hash: Hash | undefined;
  let hashEntry: TarEntry | undefined;
  let blobBytes = 0;
  let blobs = 0;
  const walked: IndexedEntry[] = [];
  let complete = false;
  const walk = await walkArchive(path, {
    // Called at each entry's header, before its data: start hashing blobs here.
    want: (e) => {
      if (e.type === 'file' && e.name.startsWith(ArchiveEntry.blobsDir)) {
        hash = createHash('sha256');
        hashEntry = e;
      } else {
        hashEntry = undefined;
      }
      return e.type === 'file' && e.size <= KEEP_JSON;
    },
    maxEntrySize: KEEP_JSON,
    onChunk: (entry, chunk) => {
      if (entry !== hashEntry) return;
      hash!.update(chunk);
      blobBytes += chunk.length;
    },
  });
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
        break;
      }
      const { entry, data } = r.value;
      const name = entry.name;
      const norm = posix.normalize(name.replace(/^\.\//, ''));
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
      if (entry.type === 'file' && norm.startsWith(ArchiveEntry.blobsDir) && entry === hashEntry) {
        const hex = norm.slice(ArchiveEntry.blobsDir.length);
        const got = hash!.digest('hex');
        info.digest = `sha256:${got}`;
        blobs++;
        if (!HEX64.test(hex)) problems.push(`${at(name)}: blob name is not a sha256 hex digest`);
        else if (got !== hex) problems.push(`${at(name)}: digest sha256:${got} [expected sha256:${hex}]`);
      }
      if (entries.has(norm)) warnings.push(`${at(name)}: appears more than once; the last one counts`);
      entries.set(norm, info);
      walked.push({ name, headerOffset: entry.headerOffset, size: entry.size });
      if (data && (data[0] === 0x7b || data[0] === 0x5b)) json.set(norm, data);
    }
  } finally {
    await it.return(undefined);
  }
  if (walk.seekTable && complete) await checkEntryIndex(path, walked, problems);

  const resolve = (name: string): EntryInfo | undefined => {
    let info = entries.get(posix.normalize(name));
    for (let i = 0; i < 8 && info && (info.entry.type === 'symlink' || info.entry.type === 'hardlink'); i++) {
      const t = linkTarget(info.entry);
      info = t === undefined ? undefined : entries.get(t);
    }
    return info;
  };
  const checkDescriptor = (d: Descriptor, what: string): boolean => {
    const name = blobEntryName(d.digest);
    if (!name) {
      problems.push(`${what}: digest ${JSON.stringify(d.digest)} is not sha256:<hex>`);
      return false;
    }
    const info = resolve(name);
    if (!info) {
      if (d.urls && d.urls.length > 0) warnings.push(`${what}: foreign layer ${d.digest} is not in the archive (it would be fetched from ${d.urls[0]})`);
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
  const visit = (d: Descriptor, what: string, depth: number): void => {
    if (!checkDescriptor(d, what) || depth > 8) return;
    const name = blobEntryName(d.digest)!;
    const data = json.get(name);
    if (!data) {
      problems.push(`${what}: blob ${name} is not JSON`);
      return;
    }
    if (isIndexType(d.mediaType)) {
      const nested = tryParse(() => parseIndex(data, `${what} (${name})`));
      nested?.manifests.forEach((c, i) => {
        if (!isAttestation(c.platform)) visit(c, `${what} manifests[${i}]`, depth + 1);
        else checkDescriptor(c, `${what} manifests[${i}]`);
      });
      return;
    }
    const m = tryParse(() => parseManifest(data, `${what} (${name})`));
    if (!m) return;
    if (checkDescriptor(m.config, `${what} config`)) {
      const cfgName = blobEntryName(m.config.digest)!;
      const cfg = json.get(cfgName);
      if (!cfg) problems.push(`${what} config: ${cfgName} is not JSON`);
      else tryParse(() => parseJson(cfg, `${what} config (${cfgName})`));
      indexConfigs.add(m.config.digest);
    }
    m.layers.forEach((l, i) => checkDescriptor(l, `${what} layers[${i}]`));
  };
  index?.manifests.forEach((d, i) => {
    if (isAttestation(d.platform)) return;
    images++;
    visit(d, `${at('index.json')} manifests[${i}]`, 0);
  });

  docker?.forEach((e, i) => {
    const what = `${at('manifest.json')} item ${i}`;
    if (!index) images++;
    const cfg = tryParse(() => safeEntryPath(e.Config, `${what} Config`));
    if (cfg !== undefined) {
      if (!resolve(cfg)) problems.push(`${what}: Config ${JSON.stringify(e.Config)} is not in the archive`);
      else if (!json.has(cfg) && !json.has(resolveName(cfg))) problems.push(`${what}: Config ${JSON.stringify(e.Config)} is not JSON`);
      const hex = /([a-f0-9]{64})(?:\.json)?$/.exec(cfg)?.[1];
      if (index && hex && !indexConfigs.has(`sha256:${hex}`)) problems.push(`${what}: Config sha256:${hex} is not the config of any image in index.json`);
    }
    e.Layers.forEach((l, j) => {
      const p = tryParse(() => safeEntryPath(l, `${what} Layers[${j}]`));
      if (p !== undefined && !resolve(p)) problems.push(`${what}: Layers[${j}] ${JSON.stringify(l)} is not in the archive`);
    });
  });
  function resolveName(name: string): string {
    const info = resolve(name);
    return info ? posix.normalize(info.entry.name) : name;
  }
  if (index && docker) {
    const dockerConfigs = new Set(docker.map((e) => /([a-f0-9]{64})(?:\.json)?$/.exec(e.Config)?.[1]).filter(Boolean).map((h) => `sha256:${h}`));
    for (const c of indexConfigs) if (!dockerConfigs.has(c)) problems.push(`${at('manifest.json')}: has no entry for config ${c}, which index.json holds`);
  }

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
    if (got !== sums[1]) problems.push(`${path}: sha256 ${got} [expected ${sums[1]} from ${sums[0]}]`);
  }
  result.ok = problems.length === 0;
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

/** Verifies each archive in turn. */
export async function verifyArchive(paths: readonly string[]): Promise<VerifyResult[]> {
  const out: VerifyResult[] = [];
  for (const p of paths) out.push(await verifyOne(p));
  return out;
}

export function verifyFailure(results: readonly VerifyResult[]): AirpackError | undefined {
  const bad = results.filter((r) => !r.ok);
  if (bad.length === 0) return undefined;
  return new AirpackError('ARCHIVE_INVALID', `verify failed for ${bad.map((r) => `${r.path} (${r.problems.length} problem${r.problems.length === 1 ? '' : 's'})`).join(', ')}`);
}
