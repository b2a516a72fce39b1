/**
 * Walks the entries of an image archive, whatever its compression, in one
 * of two ways:
 *
 * - random access, for a plain tar file and for a zstd file with a seek
 *   table: headers are read at their offsets and data is skipped unread, so
 *   a walk that stops after the metadata costs a few small reads (plain tar)
 *   or the first frame or two (seekable zstd: only frames holding a header
 *   or a wanted entry are decompressed; one decoded frame is cached);
 * - streaming, for gzip and for zstd without a seek table (one huge frame,
 *   `zstd -T0 --long`): one pass through the decompressor, never buffering
 *   more than the entries the caller asks for.
 *
 * The caller says per entry whether it wants the data in memory (`want`),
 * and may see every data chunk as it passes (`onChunk`, streaming only, for
 * hashing). Breaking out of the loop closes the file and the decompressor.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { posix } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { Magic } from '../spec/media-types.js';
import { AirpackError } from '../errors.js';
import { type TarEnd, type TarEntry, EntryAssembler, entryEnd } from '../tar/entry.js';
import { TarError } from '../tar/errors.js';
import { BLOCK_SIZE, isZeroBlock, paddedSize } from '../tar/header.js';
import { type Compression, detectCompression, MAGIC_PEEK_SIZE, openArchiveStream } from '../tar/open-archive.js';
import { TarStreamParser } from '../tar/stream-parser.js';
import { ZstdError } from '../zstd/errors.js';
import type { IndexedEntry } from '../zstd/entry-index.js';
import { type FrameStream, SeekableZstdFile, readSeekTable, STREAM_CHUNK, STREAM_DEPTH } from '../zstd/frame-reader.js';

export interface WalkItem {
  entry: TarEntry;
  /** The entry's content, when `want` asked for it. */
  data?: Buffer;
}

export interface WalkOptions {
  /** Return true to get the entry's data in memory (bounded by `maxEntrySize`). */
  want?: (entry: TarEntry) => boolean;
  /** Largest entry held in memory; a wanted entry beyond it is an error. Default 16 MiB. */
  maxEntrySize?: number;
  /**
   * Sees data chunks as they pass. Streaming: every entry's. Random access:
   * only entries `chunks` accepts (default all), read in pieces, so entries
   * not asked for are never decompressed.
   */
  onChunk?: (entry: TarEntry, chunk: Buffer) => void | Promise<void>;
  /** Random access only: which entries' data `onChunk` gets (default all). Called after `want`. */
  chunks?: (entry: TarEntry) => boolean;
  /** Force one streaming pass even when random access is possible. */
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
  compression: Compression | 'bzip2' | 'lz4';
  /** How the walk reads: random access (plain tar, seekable zstd) or one streaming pass. */
  mode: 'random' | 'stream';
  /** True for a zstd file carrying a seek table. */
  seekTable: boolean;
  /** The entries in archive order; the return value is where the tar ended. */
  entries: AsyncGenerator<WalkItem, TarEnd | undefined>;
}

export const DEFAULT_MAX_ENTRY_SIZE = 16 * 1024 * 1024;
/** Piece size for data passed to onChunk in a random-access walk. */
const CHUNK = 4 * 1024 * 1024;

/** Turns tar, zstd and file-system errors into AirpackErrors with the archive named first. */
export function archiveError(path: string, err: unknown): AirpackError {
  if (err instanceof AirpackError) return err;
  if (err instanceof TarError && err.code === 'TAR_UNSUPPORTED_COMPRESSION') {
    // Not damage: a kind of file we do not read (bzip2, lz4, xz); a usage error like the CLI's.
    return new AirpackError('INVALID_ARGUMENT', err.message.startsWith(path) ? err.message : `${path}: ${err.message}`, { cause: err });
  }
  if (err instanceof TarError || err instanceof ZstdError) {
    const msg = err.message.startsWith(path) ? err.message : `${path}: ${err.message}`;
    return new AirpackError('ARCHIVE_INVALID', msg, { cause: err });
  }
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e.code === 'string') {
    return new AirpackError('IO_ERROR', `${path}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`, { cause: err });
  }
  return new AirpackError('ARCHIVE_INVALID', `${path}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}

/** Positional reads of the plain tar bytes. */
interface RandomReader {
  size: number;
  read(position: number, length: number): Promise<Buffer>;
  /**
   * Between 1 and `length` bytes at `position`, as a view into decoded data
   * where it can (valid only until the next read: for data used at once).
   */
  view(position: number, length: number): Promise<Buffer>;
  close(): Promise<void>;
}

function fileReader(fh: FileHandle, size: number): RandomReader {
  return {
    size,
    async read(position, length) {
      const buf = Buffer.allocUnsafe(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(buf, done, length - done, position + done);
        if (bytesRead === 0) throw new TarError('TAR_TRUNCATED', `file ends at offset ${position + done}, expected ${length - done} more bytes`);
        done += bytesRead;
      }
      return buf;
    },
    view(position, length) {
      return this.read(position, length);
    },
    close: () => fh.close(),
  };
}

/** Frames up to this size are decoded whole, on the spot (the metadata frame); bigger ones stream from the worker. */
const SMALL_FRAME = 1024 * 1024;

/**
 * Positional reads of a seekable zstd file, for a walk that moves forward:
 * a small frame is decoded whole; a big one streams from the decode worker
 * in pieces (a few decoding ahead), and a read behind the current piece or
 * into another frame restarts the stream there. Memory stays at a few
 * pieces whatever the frame size.
 */
function zstdReader(z: SeekableZstdFile): RandomReader {
  let small: { index: number; data: Buffer } | undefined;
  let cur: { index: number; stream: FrameStream; start: number; piece: Buffer } | undefined;
  // Piece buffers, reused from frame to frame (fresh memory decodes 2-3x slower).
  const pool: Buffer[] = [];
  const buffers = (): Buffer[] => Array.from({ length: STREAM_DEPTH }, () => pool.pop() ?? Buffer.allocUnsafeSlow(STREAM_CHUNK));

  /** The bytes at `position`: a view into a decoded frame or piece, up to its end. */
  const at = async (position: number): Promise<Buffer> => {
    const f = z.frameAt(position);
    if (f.uncompressedSize <= SMALL_FRAME) {
      if (small?.index !== f.index) small = { index: f.index, data: await z.readFrame(f.index) };
      return small.data.subarray(position - f.uncompressedOffset);
    }
    if (!cur || cur.index !== f.index || position < cur.start) {
      cur?.stream.close();
      cur = undefined;
      const stream = await z.stream(f.index, buffers(), pool);
      const piece = await stream.next();
      if (!piece) throw new TarError('TAR_TRUNCATED', `decompressed data ends at offset ${f.uncompressedOffset}`);
      cur = { index: f.index, stream, start: f.uncompressedOffset, piece };
    }
    while (position >= cur.start + cur.piece.length) {
      const { stream, piece } = cur;
      cur.start += piece.length;
      stream.release(piece);
      const next = await stream.next();
      if (!next) throw new TarError('TAR_TRUNCATED', `decompressed data ends at offset ${cur.start}`);
      cur.piece = next;
    }
    return cur.piece.subarray(position - cur.start);
  };
  return {
    size: z.size,
    async read(position, length) {
      const out = Buffer.allocUnsafe(length);
      let filled = 0;
      while (filled < length) {
        const data = await at(position + filled);
        const n = data.copy(out, filled, 0, Math.min(data.length, length - filled));
        if (n === 0) throw new TarError('TAR_TRUNCATED', `decompressed data ends at offset ${position + filled}`);
        filled += n;
      }
      return out;
    },
    async view(position, length) {
      // Up to the end of the piece: copying across pieces would cost more than a second call.
      return (await at(position)).subarray(0, length);
    },
    close: async () => {
      cur?.stream.close();
      await z.close();
    },
  };
}

/** The index entries of `only`, in archive order; undefined when the file has no index or it lacks one of them. */
async function jumpsTo(z: SeekableZstdFile, only: ReadonlySet<string>): Promise<IndexedEntry[] | undefined> {
  const index = await z.entryIndex();
  if (!index) return undefined;
  const jumps = index.filter((e) => only.has(posix.normalize(e.name)));
  return new Set(jumps.map((e) => posix.normalize(e.name))).size === only.size ? jumps : undefined;
}

/**
 * Walks the tar by positional reads. With `jumps` (from an entry index) it
 * visits only those entries: each header must parse and carry the indexed
 * name, or the index does not describe this archive.
 */
async function* walkRandom(reader: RandomReader, source: string, opts: WalkOptions, jumps?: readonly IndexedEntry[]): AsyncGenerator<WalkItem, TarEnd | undefined> {
  const max = opts.maxEntrySize ?? DEFAULT_MAX_ENTRY_SIZE;
  const assembler = new EntryAssembler(source);
  const size = reader.size;
  let jump = 0;
  let pos = jumps?.[0]?.headerOffset ?? 0;
  if (jumps?.length === 0) {
    await reader.close();
    return undefined;
  }
  try {
    for (;;) {
      if (pos + BLOCK_SIZE > size) {
        if (pos === size && !assembler.hasPending) {
          throw new TarError('TAR_MISSING_END', `${source}: input ends at offset ${pos} without the end-of-archive marker; the archive is probably truncated`, { source, offset: pos });
        }
        throw new TarError('TAR_TRUNCATED', `${source}: at offset ${pos}: expected a ${BLOCK_SIZE}-byte header block, found ${size - pos} bytes`, { source, offset: pos });
      }
      const block = await reader.read(pos, BLOCK_SIZE);
      if (isZeroBlock(block)) {
        if (jumps) throw new AirpackError('ARCHIVE_INVALID', `${source}: the entry index names ${JSON.stringify(jumps[jump]?.name)} at offset ${pos}, the archive has its end marker there`);
        if (assembler.hasPending) {
          throw new TarError('TAR_ORPHAN_EXTENDED_HEADER', `${source}: at offset ${pos}: ${assembler.pendingDescription()} is followed by the end marker`, { source, offset: pos });
        }
        return { offset: pos, zeroBlocks: 1 };
      }
      const outcome = assembler.header(block, pos);
      if (outcome.kind === 'extended') {
        const start = pos + BLOCK_SIZE;
        if (start + outcome.paddedDataSize > size) {
          throw new TarError('TAR_TRUNCATED', `${source}: extended header at offset ${pos} runs past the end of the archive`, { source, offset: pos });
        }
        assembler.extendedData(await reader.read(start, outcome.paddedDataSize));
        pos = start + outcome.paddedDataSize;
        continue;
      }
      const entry = outcome.entry;
      const end = entryEnd(entry);
      const indexed = jumps?.[jump];
      if (indexed && (posix.normalize(entry.name) !== posix.normalize(indexed.name) || entry.size !== indexed.size)) {
        throw new AirpackError(
          'ARCHIVE_INVALID',
          `${source}: the entry index names ${JSON.stringify(indexed.name)} (${indexed.size} bytes) at offset ${indexed.headerOffset}, the archive has ${JSON.stringify(entry.name)} (${entry.size} bytes) there`,
        );
      }
      if (end > size) {
        throw new TarError(
          'TAR_TRUNCATED',
          `${source}: entry ${JSON.stringify(entry.name)} at offset ${entry.headerOffset}: expected ${entry.size} bytes of data, the archive ends ${Math.max(0, size - entry.dataOffset)} bytes in`,
          { source, entry: entry.name, offset: entry.headerOffset },
        );
      }
      if (entry.type === 'pax-global') assembler.globalData(entry, await reader.read(entry.dataOffset, paddedSize(entry.size)));
      const item: WalkItem = { entry };
      if (opts.want?.(entry)) {
        tooLarge(source, entry, max);
        item.data = await reader.read(entry.dataOffset, entry.size);
      }
      if (opts.onChunk && entry.size > 0 && (opts.chunks?.(entry) ?? true)) {
        if (item.data) await opts.onChunk(entry, item.data);
        else {
          for (let off = 0; off < entry.size; ) {
            // The view stays valid until onChunk's promise settles: the walk reads nothing meanwhile.
            const chunk = await reader.view(entry.dataOffset + off, Math.min(CHUNK, entry.size - off));
            await opts.onChunk(entry, chunk);
            off += chunk.length;
          }
        }
      }
      yield item;
      if (jumps) {
        const next = jumps[++jump];
        if (!next) return undefined;
        pos = next.headerOffset;
      } else pos = end;
    }
  } finally {
    await reader.close();
  }
}

function tooLarge(source: string, entry: TarEntry, max: number): void {
  if (entry.size > max) {
    throw new AirpackError('ARCHIVE_INVALID', `${source}: entry ${JSON.stringify(entry.name)}: expected at most ${max} bytes of metadata, found ${entry.size}`);
  }
}

async function* walkStream(path: string, opts: WalkOptions, external?: ExternalDecoder): AsyncGenerator<WalkItem, TarEnd | undefined> {
  const max = opts.maxEntrySize ?? DEFAULT_MAX_ENTRY_SIZE;
  const stream = external ? spawnDecoder(path, external) : (await openArchiveStream(path, opts.windowLogMax !== undefined ? { windowLogMax: opts.windowLogMax } : {})).stream;
  const parser = new TarStreamParser({ source: path });
  const waits: Array<Promise<void>> = [];
  let current: { entry: TarEntry; parts: Buffer[] | undefined } | undefined;
  const flush = (): WalkItem | undefined => {
    if (!current) return undefined;
    const item: WalkItem = { entry: current.entry };
    if (current.parts) item.data = Buffer.concat(current.parts);
    current = undefined;
    return item;
  };
  try {
    const handle = function* (events: ReturnType<TarStreamParser['push']>): Generator<WalkItem, TarEnd | undefined | null> {
      for (const ev of events) {
        if (ev.kind === 'entry') {
          const done = flush();
          if (done) yield done;
          const wanted = opts.want?.(ev.entry) ?? false;
          if (wanted) tooLarge(path, ev.entry, max);
          current = { entry: ev.entry, parts: wanted ? [] : undefined };
        } else if (ev.kind === 'data') {
          const pending = opts.onChunk?.(ev.entry, ev.chunk);
          if (pending) waits.push(pending);
          // Copy: the chunk is a view into the decompressor's buffer.
          current?.parts?.push(Buffer.from(ev.chunk));
        } else if (ev.kind === 'end') {
          const done = flush();
          if (done) yield done;
          return ev.end;
        }
      }
      return null;
    };
    for await (const chunk of stream) {
      const r = yield* handle(parser.push(chunk as Buffer));
      // onChunk's promises settle before the next chunk is taken: the views it got stay valid.
      await Promise.all(waits.splice(0));
      if (r !== null) return r;
    }
    const r = yield* handle(parser.finish());
    await Promise.all(waits.splice(0));
    return r ?? undefined;
  } finally {
    stream.destroy();
  }
}

/** bzip2 and lz4 (the rest of wharfie's set) are read through the system's decompressor, when installed. */
interface ExternalDecoder {
  name: 'bzip2' | 'lz4';
  bin: string;
}

const EXTERNAL: Record<string, ExternalDecoder> = {
  bzip2: { name: 'bzip2', bin: '/usr/bin/bzip2' },
  lz4: { name: 'lz4', bin: '/usr/bin/lz4' },
};

function externalFor(head: Buffer): ExternalDecoder | undefined {
  if (head.subarray(0, 3).equals(Magic.bzip2)) return EXTERNAL.bzip2;
  if (head.subarray(0, 4).equals(Magic.lz4)) return EXTERNAL.lz4;
  return undefined;
}

/** `bzip2 -dc FILE` / `lz4 -dc FILE` as a stream; a non-zero exit becomes an error on the stream. */
function spawnDecoder(path: string, d: ExternalDecoder): Readable {
  const child = spawn(d.bin, ['-dc', '--', path], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-2000)));
  const out = new PassThrough();
  child.stdout.pipe(out, { end: false });
  child.on('error', (err) => out.destroy(err));
  child.on('close', (code, signal) => {
    if (code === 0) out.end();
    else if (!out.destroyed) out.destroy(new TarError('TAR_TRUNCATED', `${path}: ${d.name} -dc failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`, { source: path }));
  });
  // Closing the walk early kills the decompressor.
  out.on('close', () => {
    if (child.exitCode === null) child.kill();
  });
  return out;
}

/** Opens `path` for a walk, choosing random access when the file allows it. */
export async function walkArchive(path: string, opts: WalkOptions = {}): Promise<ArchiveWalk> {
  try {
    const fh = await open(path, 'r');
    let compression: Compression;
    let size: number;
    try {
      size = (await fh.stat()).size;
      const head = Buffer.alloc(MAGIC_PEEK_SIZE);
      const { bytesRead } = await fh.read(head, 0, MAGIC_PEEK_SIZE, 0);
      if (bytesRead === 0) throw new TarError('TAR_EMPTY', `${path}: expected a tar archive, found an empty file`);
      const ext = externalFor(head.subarray(0, bytesRead));
      if (ext && existsSync(ext.bin)) {
        await fh.close();
        return { compression: ext.name, mode: 'stream', seekTable: false, entries: guard(path, walkStream(path, opts, ext)) };
      }
      compression = detectCompression(head.subarray(0, bytesRead), path);
    } catch (err) {
      await fh.close();
      throw err;
    }
    const random = !opts.stream;
    if (compression === 'none' && random) {
      return { compression, mode: 'random', seekTable: false, entries: guard(path, walkRandom(fileReader(fh, size), path, opts)) };
    }
    let seekTable = false;
    if (compression === 'zstd') {
      try {
        seekTable = (await readSeekTable(fh)) !== null;
      } catch {
        seekTable = false;
      }
    }
    await fh.close();
    if (seekTable && random) {
      const z = await SeekableZstdFile.open(path, opts.windowLogMax !== undefined ? { windowLogMax: opts.windowLogMax } : {});
      let jumps: IndexedEntry[] | undefined;
      try {
        jumps = opts.only ? await jumpsTo(z, opts.only) : undefined;
      } catch (err) {
        await z.close();
        throw err;
      }
      return { compression, mode: 'random', seekTable, entries: guard(path, walkRandom(zstdReader(z), path, opts, jumps)) };
    }
    return { compression, mode: 'stream', seekTable, entries: guard(path, walkStream(path, opts)) };
  } catch (err) {
    throw archiveError(path, err);
  }
}

/** Rewrites errors raised during the walk into AirpackErrors naming the file. */
async function* guard<T, R>(path: string, gen: AsyncGenerator<T, R>): AsyncGenerator<T, R> {
  try {
    return yield* gen;
  } catch (err) {
    throw archiveError(path, err);
  }
}
