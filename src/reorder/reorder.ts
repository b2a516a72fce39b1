/**
 * Rewrites an image tarball so the entries a loader needs first
 * (`manifest.json`, `repositories`, `index.json`, `oci-layout`, in that
 * order, also with a leading `./`) open the archive, and every other entry
 * follows in its original order, byte for byte: raw header blocks, PAX
 * records, GNU long names, links and data padding are copied unchanged. The
 * archive then ends with two zero blocks. This is what rke2's two bsdtar
 * passes do, except that bsdtar re-encodes every header.
 *
 * How the bytes move:
 * - Plain tar file in: one header-only scan (seeking over data), then the
 *   front entries (small), then the rest as a few large contiguous range
 *   copies (4 MiB double-buffered reads and writes).
 * - Stream in (stdin, a pipe, or decompressed gzip/zstd): front entries that
 *   open the stream are held in memory; from the first other entry on, bytes
 *   stream straight into the output file after them. Only when a front entry
 *   shows up late (docker save writes manifest.json last) is the output
 *   rewritten once from that temp file, which so served as the spill.
 *   With a Writable as output nothing can be emitted before the end (a late
 *   front entry would have to precede bytes already sent), so the body is
 *   spilled to a temp file and sent at the end.
 * Memory stays bounded by the copy buffers plus the front entries
 * (`maxFrontBytes`). File outputs go to a temp file beside the target,
 * renamed into place when complete and removed on error.
 */
import { fstat } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { METADATA_ENTRIES } from '../spec/media-types.js';
import { TarError, where } from '../tar/errors.js';
import { type TarEntry, entryEnd } from '../tar/entry.js';
import { END_OF_ARCHIVE } from '../tar/header.js';
import { type Compression, decompressPeeked, detectCompression, MAGIC_PEEK_SIZE, openDecompressed } from '../compress/index.js';
import { endWritable, FileSink, type OutputSink, StreamSink, TempFile } from '../io/output-sink.js';
import { scanTarFile } from '../tar/walk.js';
import { readTarStream } from '../tar/stream-parser.js';

export interface ReorderOptions {
  /** Entry names to put first, in this order. Default: manifest.json, repositories, index.json, oci-layout. */
  front?: readonly string[];
  /** Cap on the bytes of front entries held in memory for stream input. Default 64 MiB. */
  maxFrontBytes?: number;
  /** Directory for the spill file when the output is a Writable and the input a stream. Default os.tmpdir(). */
  tmpDir?: string;
  /** zstd window cap for compressed input, log2. Default 27. */
  windowLogMax?: number;
  /** Names the input in messages when it is a stream. Default "stream". */
  source?: string;
}

export interface ReorderResult {
  /** Compression detected on the input. */
  compression: Compression;
  /** How the bytes moved: header scan + range copies, streamed through, or streamed via a spill/rewrite. */
  mode: 'file' | 'stream' | 'stream-spilled';
  /** Entries in the archive (PAX global headers included). */
  entries: number;
  /** Names of the entries moved to the front, in output order. */
  front: string[];
  /** Size of the output tar, end marker included. */
  size: number;
}

const DEFAULT_MAX_FRONT = 64 * 1024 * 1024;
const fstatAsync = promisify(fstat);

/** Strips leading "./" (and "/") so "./manifest.json" matches "manifest.json". */
function normalizeName(name: string): string {
  let n = name;
  for (;;) {
    if (n.startsWith('./')) n = n.slice(2);
    else if (n.startsWith('/')) n = n.slice(1);
    else return n;
  }
}

/** Index of the entry in the front list, or -1. Only regular files count: a directory or link of that name stays put. */
function frontRank(entry: TarEntry, front: readonly string[]): number {
  if (entry.type !== 'file' && entry.type !== 'contiguous-file') return -1;
  return front.indexOf(normalizeName(entry.name));
}

/**
 * Reorders an image tarball.
 * `input`: a path (plain, gzip or zstd, detected by magic bytes; FIFOs are
 * read as streams), "-" for stdin, or a Readable.
 * `output`: a path (written to a temp file beside it, renamed when complete)
 * or a Writable (ended when done).
 * Throws TarError (or ZstdError for undecodable zstd input) on malformed or
 * truncated input; no output or temp file is left behind then.
 */
export async function reorderTar(input: string | Readable, output: string | Writable, opts: ReorderOptions = {}): Promise<ReorderResult> {
  if (input === '-') {
    // stdin: when redirected from a regular file it can be scanned and seeked like one;
    // otherwise (pipe, terminal) Node's own stdin stream reads it without thread-pool hops.
    const info = await fstatAsync(0);
    if (info.isFile()) return reorderTar('/dev/stdin', output, opts);
    return reorderTar(process.stdin, output, { source: 'stdin', ...opts });
  }
  if (typeof input === 'string') {
    const info = await stat(input);
    if (info.isFile()) {
      const fh = await open(input, 'r');
      let head: Buffer;
      let compression: Compression;
      try {
        head = Buffer.alloc(MAGIC_PEEK_SIZE);
        const { bytesRead } = await fh.read(head, 0, MAGIC_PEEK_SIZE, 0);
        compression = detectCompression(head.subarray(0, bytesRead));
        if (compression === 'none') return await reorderFile(fh, input, output, opts);
      } finally {
        await fh.close();
      }
      const opened = await openDecompressed(input, { windowLogMax: opts.windowLogMax ?? 27 });
      return reorderStream(opened.stream, opened.compression, input, output, opts);
    }
    const raw = (await open(input, 'r')).createReadStream({ highWaterMark: 1024 * 1024 });
    const opened = await decompressPeeked(raw, input, { windowLogMax: opts.windowLogMax ?? 27 });
    return reorderStream(opened.stream, opened.compression, input, output, opts);
  }
  const source = opts.source ?? 'stream';
  const opened = await decompressPeeked(input, source, { windowLogMax: opts.windowLogMax ?? 27 });
  return reorderStream(opened.stream, opened.compression, source, output, opts);
}

interface Plan {
  leading: TarEntry[];
  front: TarEntry[];
  rest: TarEntry[];
}

/** Splits entries into leading PAX globals, front entries (ranked, stable) and the rest in order. */
function plan(entries: readonly TarEntry[], frontNames: readonly string[]): Plan {
  const leading: TarEntry[] = [];
  const ranked: { rank: number; i: number; e: TarEntry }[] = [];
  const rest: TarEntry[] = [];
  let i = 0;
  // Global headers before any entry apply to all entries; keep them ahead of the moved ones.
  while (i < entries.length && entries[i]!.type === 'pax-global') leading.push(entries[i++]!);
  for (; i < entries.length; i++) {
    const e = entries[i]!;
    const rank = frontRank(e, frontNames);
    if (rank >= 0) ranked.push({ rank, i, e });
    else rest.push(e);
  }
  ranked.sort((a, b) => a.rank - b.rank || a.i - b.i);
  return { leading, front: ranked.map((r) => r.e), rest };
}

/** Contiguous input ranges covering `entries`, in order, merged where they touch. */
function ranges(entries: readonly TarEntry[]): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  for (const e of entries) {
    const last = out[out.length - 1];
    if (last && last.end === e.headerOffset) last.end = entryEnd(e);
    else out.push({ start: e.headerOffset, end: entryEnd(e) });
  }
  return out;
}

/** A plain tar file's reordered layout: input byte ranges for the front entries, then for the rest. */
export interface FileReorderPlan {
  front: { start: number; end: number }[];
  rest: { start: number; end: number }[];
  result: ReorderResult;
}

async function planFile(fh: FileHandle, source: string, opts: ReorderOptions): Promise<FileReorderPlan> {
  const scan = await scanTarFile(fh, { source });
  const p = plan(scan.entries, opts.front ?? METADATA_ENTRIES);
  const front = ranges([...p.leading, ...p.front]);
  const rest = ranges(p.rest);
  const size = [...front, ...rest].reduce((n, r) => n + r.end - r.start, END_OF_ARCHIVE.length);
  return { front, rest, result: { compression: 'none', mode: 'file', entries: scan.entries.length, front: p.front.map((e) => e.name), size } };
}

/**
 * The reordered layout of `input` when it is a plain (uncompressed) tar
 * file, for writers that read the ranges themselves (the zstd frame
 * workers); null for anything else. The output is the front ranges, the
 * rest, then END_OF_ARCHIVE.
 */
export async function planTarFileReorder(input: string, opts: ReorderOptions = {}): Promise<FileReorderPlan | null> {
  if (!(await stat(input)).isFile()) return null;
  const fh = await open(input, 'r');
  try {
    const head = Buffer.alloc(MAGIC_PEEK_SIZE);
    const { bytesRead } = await fh.read(head, 0, MAGIC_PEEK_SIZE, 0);
    if (detectCompression(head.subarray(0, bytesRead)) !== 'none') return null;
    return await planFile(fh, input, opts);
  } finally {
    await fh.close();
  }
}

async function reorderFile(fh: FileHandle, source: string, output: string | Writable, opts: ReorderOptions): Promise<ReorderResult> {
  const p = await planFile(fh, source, opts);
  const write = async (sink: OutputSink): Promise<void> => {
    // Front entries are small and scattered; each is one range copy.
    for (const r of [...p.front, ...p.rest]) await sink.copyFrom(fh, r.start, r.end - r.start);
    await sink.write(END_OF_ARCHIVE);
    await sink.flush();
  };
  await toOutput(output, write);
  return p.result;
}

/** Runs `write` against the output: a temp file committed on success, or a Writable ended on success. */
async function toOutput(output: string | Writable, write: (sink: OutputSink) => Promise<void>): Promise<number> {
  if (typeof output === 'string') {
    const tmp = await TempFile.create({ target: output });
    try {
      const sink = new FileSink(tmp.fh);
      await write(sink);
      await tmp.commit();
      return sink.position;
    } catch (err) {
      await tmp.discard();
      throw err;
    }
  }
  const sink = new StreamSink(output);
  await write(sink);
  await endWritable(output);
  return sink.position;
}

/** An entry held in memory: its raw header and data/padding pieces. */
interface Held {
  entry: TarEntry;
  rank: number;
  order: number;
  parts: Buffer[];
}

async function reorderStream(
  tar: Readable,
  compression: Compression,
  source: string,
  output: string | Writable,
  opts: ReorderOptions,
): Promise<ReorderResult> {
  const frontNames = opts.front ?? METADATA_ENTRIES;
  const maxFront = opts.maxFrontBytes ?? DEFAULT_MAX_FRONT;
  // Body bytes go to the output temp file directly, or (Writable output) to a spill file.
  const body =
    typeof output === 'string' ? await TempFile.create({ target: output }) : await TempFile.create({ dir: opts.tmpDir ?? tmpdir(), prefix: 'airpack-reorder' });
  let rewrite: TempFile | undefined;
  try {
    const sink = new FileSink(body.fh);
    const leading: Held[] = [];
    const held: Held[] = [];
    let heldBytes = 0;
    let inBody = false;
    let bodyStart = 0;
    let late = false;
    let entries = 0;
    let current: Held | undefined;

    const hold = (h: Held, buf: Buffer): void => {
      heldBytes += buf.length;
      if (heldBytes > maxFront) {
        throw new TarError(
          'TAR_METADATA_TOO_LARGE',
          `${where({ source, entry: h.entry.name, offset: h.entry.headerOffset })}: front entries expected at most ${maxFront} bytes in memory, found more`,
          { source, entry: h.entry.name, offset: h.entry.headerOffset },
        );
      }
      // Copy: the piece is a view into a larger input chunk we do not want to pin.
      h.parts.push(Buffer.from(buf));
    };
    const writeHeld = (list: readonly Held[]): Promise<void> => writeHeldTo(sink, list);

    for await (const ev of readTarStream(tar, { source })) {
      if (ev.kind === 'entry') {
        const e = ev.entry;
        entries++;
        const rank = frontRank(e, frontNames);
        current = undefined;
        if (!inBody && e.type === 'pax-global' && held.length === 0) {
          current = { entry: e, rank: -1, order: entries, parts: [] };
          leading.push(current);
        } else if (rank >= 0) {
          current = { entry: e, rank, order: entries, parts: [] };
          held.push(current);
          if (inBody) late = true;
        } else if (!inBody) {
          inBody = true;
          if (typeof output === 'string') {
            // Optimistic: assume the front is complete and stream the rest right after it.
            await writeHeld(leading);
            await writeHeld(sorted(held));
          }
          bodyStart = sink.position;
        }
        if (current) hold(current, e.rawHeaderBytes);
        else await sink.write(e.rawHeaderBytes);
      } else if (ev.kind === 'data' || ev.kind === 'padding') {
        if (current) hold(current, ev.chunk);
        else await sink.write(ev.chunk);
      }
    }

    const front = sorted(held);
    const result = (mode: ReorderResult['mode'], size: number): ReorderResult => ({ compression, mode, entries, front: front.map((h) => h.entry.name), size });

    if (typeof output === 'string' && !late) {
      if (!inBody) {
        await writeHeld(leading);
        await writeHeld(front);
      }
      await sink.write(END_OF_ARCHIVE);
      await sink.flush();
      const size = sink.position;
      await body.commit();
      return result('stream', size);
    }

    // Late front entries (file output), or any Writable output: emit front, then the body from the temp file.
    await sink.flush();
    const bodyEnd = sink.position;
    const emit = async (out: OutputSink): Promise<void> => {
      await writeHeldTo(out, leading);
      await writeHeldTo(out, front);
      await out.copyFrom(body.fh, bodyStart, bodyEnd - bodyStart);
      await out.write(END_OF_ARCHIVE);
      await out.flush();
    };
    let size: number;
    if (typeof output === 'string') {
      rewrite = await TempFile.create({ target: output });
      const out = new FileSink(rewrite.fh);
      await emit(out);
      size = out.position;
      await rewrite.commit();
    } else {
      const out = new StreamSink(output);
      await emit(out);
      await endWritable(output);
      size = out.position;
    }
    await body.discard();
    return result('stream-spilled', size);
  } catch (err) {
    tar.destroy();
    await body.discard();
    await rewrite?.discard();
    throw err;
  }
}

function sorted(list: readonly Held[]): Held[] {
  return [...list].sort((a, b) => a.rank - b.rank || a.order - b.order);
}

async function writeHeldTo(out: OutputSink, list: readonly Held[]): Promise<void> {
  for (const h of list) for (const part of h.parts) await out.write(part);
}
