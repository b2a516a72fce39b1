/**
 * An image archive on disk with its entries readable at random: what the
 * archive source resolves images from and reads blobs out of.
 *
 * - a plain tar: its headers are walked once (a few hundred small reads),
 *   and entry data is read at its offset;
 * - an airpack bundle (zstd with a seek table): read in place, never copied.
 *   The entry index says where each entry's header is; a read decodes only
 *   the frames the entry sits in, through one of a few readers, each with
 *   its own decoder (bundle-readers.ts): reads side by side decode side by
 *   side, and a reader moves forward cheaply (a read behind it restarts
 *   that frame).
 *   A seekable zstd file without an entry index has its headers walked once;
 * - an OCI layout directory: its files, with symlinks followed only while
 *   they stay inside it;
 * - anything else (gzip, one-frame zstd, bzip2, lz4, xz) cannot be read at
 *   an offset: it is decompressed once into a scratch tar (`spilled`), and
 *   read from there.
 *
 * Links inside an archive (docker save keeps `<id>/layer.tar` as a link to
 * the blob) are followed, never out of it.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, realpathSync, statSync } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type Compression, openDecompressed, readHead, detectCompression } from '../compress/index.js';
import { AirpackError, toAirpackError } from '../errors.js';
import type { TarEntry } from '../tar/entry.js';
import { type EntryLocation, scanTarFile, walkPositional, type PositionalReader } from '../tar/walk.js';
import { readSeekTable, SeekableZstdFile } from '../zstd/frame-reader.js';
import { BundleReaders } from './bundle-readers.js';
import { entryName } from '../tar/names.js';

/** An entry whose bytes can be read: where it is, and how big. */
export interface Located {
  /** For messages: the archive (or the layout directory's file). */
  source: string;
  size: number;
  /** Reads `length` bytes at `offset` into the entry. */
  read(offset: number, length: number): Promise<Buffer>;
  /** The entry's bytes from `offset` to its end. */
  stream(offset: number): Readable;
}

interface Entry {
  name: string;
  type: TarEntry['type'];
  linkname: string;
  size: number;
  /** Plain tar: where the data starts. Bundle: unknown until its header is read. */
  dataOffset?: number;
  headerOffset: number;
}

export class ArchiveFile {
  private constructor(
    /** The path as given, for messages. */
    readonly path: string,
    readonly compression: Compression,
    /** True when the archive had to be decompressed into a scratch file to be read at random. */
    readonly spilled: boolean,
    private readonly locateEntry: (name: string) => Located | undefined,
    private readonly closeFile: () => Promise<void>,
  ) {}

  /** Opens `file` (a tar, plain or compressed, a bundle, or a directory); `spill()` gives a scratch directory when one is needed. */
  static async open(file: string, spill: () => Promise<string>, readers = 1): Promise<ArchiveFile> {
    let info;
    try {
      info = await stat(file);
    } catch (err) {
      throw toAirpackError(err, file);
    }
    if (info.isDirectory()) {
      const root = realpathSync(file);
      return new ArchiveFile(file, 'none', false, (name) => locateInDirectory(root, name), async () => {});
    }
    try {
      const compression = detectCompression(await readHead(file));
      if (compression === 'none') return await ArchiveFile.plain(file, file, compression, false);
      if (compression === 'zstd') {
        const fh = await open(file, 'r');
        const seekable = await readSeekTable(fh).catch(() => null).finally(() => fh.close());
        if (seekable) return await ArchiveFile.bundle(file, readers);
      }
      const tar = path.join(await spill(), `${createHash('sha256').update(path.resolve(file)).digest('hex').slice(0, 16)}.tar`);
      const opened = await openDecompressed(file);
      await pipeline(opened.stream, createWriteStream(tar));
      return await ArchiveFile.plain(file, tar, compression, true);
    } catch (err) {
      throw toAirpackError(err, file);
    }
  }

  private static async plain(name: string, tar: string, compression: Compression, spilled: boolean): Promise<ArchiveFile> {
    const fh = await open(tar, 'r');
    try {
      const entries = new Map<string, Entry>();
      for (const e of (await scanTarFile(fh, { source: name })).entries) entries.set(entryName(e.name), toEntry(e));
      const located = (e: Entry): Located => fileRange(name, fh, tar, e.dataOffset!, e.size);
      return new ArchiveFile(name, compression, spilled, (n) => follow(entries, n, located), () => fh.close());
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  private static async bundle(file: string, limit: number): Promise<ArchiveFile> {
    const z = await SeekableZstdFile.open(file);
    const readers = new BundleReaders(file, z, limit);
    try {
      const entries = new Map<string, Entry>();
      const index = await z.entryIndex();
      if (index) {
        for (const e of index) entries.set(entryName(e.name), { name: e.name, type: 'file', linkname: '', size: e.size, headerOffset: e.headerOffset });
      } else {
        // No entry index (a seekable file from another writer): walk every header once.
        const { reader, release } = await readers.take(0);
        try {
          for await (const { entry } of walkPositional({ ...reader, close: async () => {} }, file)) entries.set(entryName(entry.name), toEntry(entry));
        } finally {
          release(0);
        }
      }
      const located = (e: Entry): Located => bundleRange(file, readers, e);
      return new ArchiveFile(file, 'zstd', false, (n) => follow(entries, n, located), () => readers.close());
    } catch (err) {
      await readers.close();
      throw err;
    }
  }

  /** The entry `name` (`./` and trailing slashes ignored), links followed; undefined when the archive lacks it. */
  locate(name: string): Located | undefined {
    return this.locateEntry(entryName(name));
  }

  close(): Promise<void> {
    return this.closeFile();
  }
}

function toEntry(e: TarEntry): Entry {
  return { name: e.name, type: e.type, linkname: e.linkname, size: e.size, dataOffset: e.dataOffset, headerOffset: e.headerOffset };
}

/** Follows hard and symbolic links inside the archive (never out of it) to a regular file. */
function follow(entries: ReadonlyMap<string, Entry>, name: string, located: (e: Entry) => Located): Located | undefined {
  for (let hops = 0, at = name; hops < 8; hops++) {
    const e = entries.get(at);
    if (!e) return undefined;
    if (e.type === 'file') return located(e);
    if (e.type === 'hardlink') at = entryName(e.linkname);
    else if (e.type === 'symlink') at = entryName(path.posix.join(path.posix.dirname(at), e.linkname));
    else return undefined;
    if (at === '..' || at.startsWith('../') || path.posix.isAbsolute(at)) return undefined;
  }
  return undefined;
}

async function readFully(fh: FileHandle, source: string, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) throw new AirpackError('ARCHIVE_INVALID', `${source}: ended at offset ${position + done}, inside an entry`);
    done += bytesRead;
  }
  return buf;
}

function fileRange(source: string, fh: FileHandle, file: string, start: number, size: number): Located {
  return {
    source,
    size,
    read: (offset, length) => readFully(fh, source, start + offset, Math.min(length, size - offset)),
    stream: (offset) => (offset >= size ? Readable.from([]) : createReadStream(file, { start: start + offset, end: start + size - 1, highWaterMark: 1024 * 1024 })),
  };
}

/**
 * An entry of a bundle. Its header is read (and checked against the entry
 * index: a lying index fails here) the first time it is needed; data is read
 * through one of the bundle's readers, held for the whole read.
 */
function bundleRange(source: string, readers: BundleReaders, e: Entry): Located {
  const dataOffset = async (reader: PositionalReader): Promise<number> => {
    if (e.dataOffset === undefined) {
      const jump: EntryLocation = { name: e.name, headerOffset: e.headerOffset, size: e.size };
      for await (const { entry } of walkPositional({ ...reader, close: async () => {} }, source, {}, [jump])) e.dataOffset = entry.dataOffset;
      if (e.dataOffset === undefined) throw new AirpackError('ARCHIVE_INVALID', `${source}: entry ${JSON.stringify(e.name)} is not where the entry index says`);
    }
    return e.dataOffset;
  };
  const read = async (offset: number, length: number): Promise<Buffer> => {
    const { reader, release } = await readers.take(e.headerOffset);
    let end = e.headerOffset;
    try {
      const start = (await dataOffset(reader)) + offset;
      const out = await reader.read(start, Math.min(length, e.size - offset));
      end = start + out.length;
      return out;
    } finally {
      release(end);
    }
  };
  // A reader is taken at the first read, not at open, and given back when the stream ends
  // or is destroyed: an opened but unread stream holds up nobody.
  const stream = (offset: number): Readable =>
    Readable.from(
      (async function* () {
        const { reader, release } = await readers.take(e.headerOffset);
        let at = e.headerOffset;
        try {
          const start = await dataOffset(reader);
          for (let pos = offset; pos < e.size; ) {
            const piece = await reader.view(start + pos, Math.min(4 * 1024 * 1024, e.size - pos));
            pos += piece.length;
            at = start + pos;
            // Copy: the view is only valid until the next read.
            yield Buffer.from(piece);
          }
        } catch (err) {
          throw toAirpackError(err, source);
        } finally {
          release(at);
        }
      })(),
      // Pieces as they are (two ahead): a byte-mode stream would concatenate them on every read.
      { objectMode: true, highWaterMark: 2 },
    );
  return { source, size: e.size, read, stream };
}

/**
 * A file of an OCI layout directory. Symlinks are followed only while they
 * stay inside the directory: a hostile layout must not pull /etc/shadow into
 * a bundle as a "layer".
 */
function locateInDirectory(root: string, name: string): Located | undefined {
  try {
    const file = realpathSync(path.join(root, name));
    if (file !== root && !file.startsWith(`${root}${path.sep}`)) return undefined;
    const info = statSync(file);
    if (!info.isFile()) return undefined;
    return {
      source: file,
      size: info.size,
      async read(offset, length) {
        const fh = await open(file, 'r');
        try {
          return await readFully(fh, file, offset, Math.min(length, info.size - offset));
        } finally {
          await fh.close();
        }
      },
      stream: (offset) => (offset >= info.size ? Readable.from([]) : createReadStream(file, { start: offset, highWaterMark: 1024 * 1024 })),
    };
  } catch {
    return undefined;
  }
}
