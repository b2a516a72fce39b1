/**
 * Walks the entries of an image archive on disk, whatever it is, choosing
 * the cheapest way the file allows:
 *
 * - positional reads, for a plain tar file and for a zstd file with a seek
 *   table (an airpack bundle): headers are read at their offsets and data is
 *   skipped unread, so a walk that stops after the metadata costs a few small
 *   reads (plain tar) or the first frame or two (bundle: only frames holding
 *   a header or a wanted entry are decompressed);
 * - one streaming pass, for gzip, bzip2, lz4, xz and zstd without a seek
 *   table (one huge frame, `zstd -T0 --long`), through the decompressor;
 * - a directory (an OCI layout) walks its files, sorted, as if they were
 *   entries of a tar; symlinks are reported as symlinks, never followed here.
 *
 * The walk rules themselves (end marker, truncation) are the tar walker's.
 */
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { type Compression, detectCompression, MAGIC_PEEK_SIZE } from '../compress/detect.js';
import { toAirpackError } from '../errors.js';
import { isDirectory } from '../io/is-directory.js';
import type { TarEnd, TarEntry } from '../tar/entry.js';
import { TarError } from '../tar/errors.js';
import { entryName } from '../tar/names.js';
import { type EntryLocation, fileReader, walkPositional, walkStream, type WalkItem, type WalkOptions } from '../tar/walk.js';
import { walkFrameChain } from '../zstd/frame-chain.js';
import { readSeekTable, SeekableZstdFile } from '../zstd/frame-reader.js';
import { seekableReader } from '../zstd/positional-reader.js';

export type { WalkItem } from '../tar/walk.js';
export { entryName } from '../tar/names.js';

export interface ArchiveWalkOptions extends WalkOptions {
  /** Force one streaming pass even when positional reads are possible. */
  stream?: boolean;
  /** zstd window cap, log2 (default 27 = 128 MiB). */
  windowLogMax?: number;
  /**
   * The only entries the caller needs (normalised names). On a bundle with
   * an entry index holding them all, the walk visits just these, in archive
   * order, and decodes only the frames they sit in; otherwise it walks as usual.
   */
  only?: ReadonlySet<string>;
}

export interface ArchiveWalk {
  compression: Compression;
  /** How the walk reads: positional reads (plain tar, seekable zstd), one streaming pass, or a directory's files. */
  mode: 'random' | 'stream' | 'directory';
  /** True for a zstd file carrying a seek table. */
  seekTable: boolean;
  /** The tar's size, when known without reading it (a plain tar, a seekable zstd file): for progress. */
  tarBytes?: number;
  /** The entries in archive order; the return value is where the tar ended. */
  entries: AsyncGenerator<WalkItem, TarEnd | undefined>;
}

/** The index entries of `only`, in archive order; undefined when the file has no index or it lacks one of them. */
async function jumpsTo(z: SeekableZstdFile, only: ReadonlySet<string>): Promise<EntryLocation[] | undefined> {
  const index = await z.entryIndex();
  if (!index) return undefined;
  const jumps = index.filter((e) => only.has(entryName(e.name)));
  return new Set(jumps.map((e) => entryName(e.name))).size === only.size ? jumps : undefined;
}

/** Opens `path` for a walk, choosing positional reads when the file allows it. */
export async function walkArchive(path: string, opts: ArchiveWalkOptions = {}): Promise<ArchiveWalk> {
  try {
    // stat, not lstat: a symlink to an OCI layout directory is that directory, as for pull.
    if (await isDirectory(path)) {
      return { compression: 'none', mode: 'directory', seekTable: false, entries: guard(path, walkDirectory(path, opts)) };
    }
    const fh = await open(path, 'r');
    let compression: Compression;
    let size: number;
    try {
      size = (await fh.stat()).size;
      if (size === 0) throw new TarError('TAR_EMPTY', `${path}: expected a tar archive, found an empty file`);
      const head = Buffer.alloc(MAGIC_PEEK_SIZE);
      const { bytesRead } = await fh.read(head, 0, MAGIC_PEEK_SIZE, 0);
      compression = detectCompression(head.subarray(0, bytesRead));
    } catch (err) {
      await fh.close();
      throw err;
    }
    const random = !opts.stream;
    if (compression === 'none' && random) {
      return { compression, mode: 'random', seekTable: false, tarBytes: size, entries: guard(path, walkPositional(fileReader(fh, size), path, opts)) };
    }
    let seekTable = false;
    try {
      if (compression === 'zstd') seekTable = (await readSeekTable(fh).catch(() => null)) !== null;
      // Without a seek table, a file cut after its first frame would still name every image it
      // held: its frames are walked to the end first (block headers only, no decoding).
      if (compression === 'zstd' && !seekTable) await walkFrameChain(fh, path);
    } finally {
      await fh.close();
    }
    const zstdOptions = opts.windowLogMax !== undefined ? { windowLogMax: opts.windowLogMax } : {};
    if (seekTable && random) {
      const z = await SeekableZstdFile.open(path, zstdOptions);
      let jumps: EntryLocation[] | undefined;
      try {
        jumps = opts.only ? await jumpsTo(z, opts.only) : undefined;
      } catch (err) {
        await z.close();
        throw err;
      }
      return { compression, mode: 'random', seekTable, tarBytes: z.size, entries: guard(path, walkPositional(seekableReader(z, { streaming: opts.onChunk !== undefined }), path, opts, jumps)) };
    }
    // Loaded here, not at the top: find and ls on a bundle or plain tar never stream (decoders, child_process, zlib).
    const { openDecompressed } = await import('../compress/open.js');
    const { stream } = await openDecompressed(path, zstdOptions);
    return { compression, mode: 'stream', seekTable, entries: guard(path, walkStream(stream, path, opts)) };
  } catch (err) {
    throw toAirpackError(err, path);
  }
}

/** A directory's files as tar entries, names relative to it, sorted (deterministic, as a tar of it would be). */
async function* walkDirectory(root: string, opts: WalkOptions): AsyncGenerator<WalkItem, TarEnd | undefined> {
  const names: string[] = [];
  const visit = async (rel: string): Promise<void> => {
    for (const name of (await readdir(join(root, rel))).sort()) {
      const child = rel ? `${rel}/${name}` : name;
      const info = await lstat(join(root, child));
      names.push(child);
      if (info.isDirectory()) await visit(child);
    }
  };
  await visit('');
  let offset = 0;
  for (const name of names) {
    const file = join(root, name);
    const info = await lstat(file);
    const type = info.isDirectory() ? 'directory' : info.isSymbolicLink() ? 'symlink' : info.isFile() ? 'file' : 'unknown';
    const size = type === 'file' ? info.size : 0;
    const entry: TarEntry = {
      name: type === 'directory' ? `${name}/` : name,
      type,
      typeflag: type === 'directory' ? '5' : type === 'symlink' ? '2' : '0',
      size,
      linkname: type === 'symlink' ? await readlink(file) : '',
      mode: info.mode & 0o7777,
      uid: info.uid,
      gid: info.gid,
      mtime: Math.floor(info.mtimeMs / 1000),
      pax: new Map(),
      // Directory entries have no tar offsets; a running count keeps them distinct and ordered.
      headerOffset: offset,
      dataOffset: offset,
      rawHeaderBytes: Buffer.alloc(0),
      paddedDataSize: size,
    };
    offset += size + 1;
    const item: WalkItem = { entry };
    if (type === 'file' && opts.want?.(entry)) {
      const max = opts.maxEntrySize ?? 16 * 1024 * 1024;
      if (size > max) throw new TarError('TAR_METADATA_TOO_LARGE', `${root}: file ${JSON.stringify(name)}: expected at most ${max} bytes of metadata, found ${size}`);
      const fh = await open(file, 'r');
      try {
        item.data = await fh.readFile();
      } finally {
        await fh.close();
      }
    }
    if (type === 'file' && opts.onChunk && size > 0 && (opts.chunks?.(entry) ?? true)) {
      if (item.data) await opts.onChunk(entry, item.data);
      else for await (const chunk of createReadStream(file, { highWaterMark: 4 * 1024 * 1024 })) await opts.onChunk(entry, chunk as Buffer);
    }
    yield item;
  }
  return { offset, zeroBlocks: 2 };
}

/** Rewrites errors raised during the walk into AirpackErrors naming the file. */
async function* guard<T, R>(path: string, gen: AsyncGenerator<T, R>): AsyncGenerator<T, R> {
  try {
    return yield* gen;
  } catch (err) {
    throw toAirpackError(err, path);
  }
}
