/**
 * The entry index of an airpack bundle: where each tar entry's header sits
 * in the uncompressed stream, so a reader that wants a few entries (extract)
 * decodes only the frames holding them, not every frame that holds a header.
 *
 * It is a zstd skippable frame (ignored by every zstd decoder, so `zstd -d`,
 * tar, wharfie and containerd see the same tar) written after the last data
 * frame and listed in the seek table as a frame of zero decompressed bytes,
 * so the table still covers the file frame by frame. Payload: JSON,
 * `{"airpackEntryIndex":1,"entries":[[name, headerOffset, size], ...]}`.
 *
 * It comes from the file, so a reader trusts it only as far as it checks:
 * every header it jumps to must parse and carry the indexed name.
 */
import { ZstdError } from './errors.js';
import { SKIPPABLE_MAGIC_MIN, skippableFrame } from './frame-header.js';

/** Skippable magic 0x184D2A5B: the seek table uses ...5E. */
export const ENTRY_INDEX_MAGIC = 0x184d2a5b;
const VERSION = 1;
const SKIPPABLE_HEADER_SIZE = 8;
/** An index larger than this is not read (about a million entries). */
export const MAX_INDEX_BYTES = 64 * 1024 * 1024;

export interface IndexedEntry {
  name: string;
  /** Uncompressed offset of the entry's first header block (extended headers included). */
  headerOffset: number;
  /** Bytes of data. */
  size: number;
}

export function encodeEntryIndex(entries: readonly IndexedEntry[]): Buffer {
  const payload = Buffer.from(JSON.stringify({ airpackEntryIndex: VERSION, entries: entries.map((e) => [e.name, e.headerOffset, e.size]) }));
  return skippableFrame(payload, ENTRY_INDEX_MAGIC - SKIPPABLE_MAGIC_MIN);
}

/** The entries of an index frame, or undefined when `frame` is not one (another skippable frame, a newer version). */
export function decodeEntryIndex(frame: Buffer, label: string): IndexedEntry[] | undefined {
  if (frame.length < SKIPPABLE_HEADER_SIZE || frame.readUInt32LE(0) !== ENTRY_INDEX_MAGIC) return undefined;
  const bad = (what: string): ZstdError => new ZstdError('ZSTD_BAD_SEEK_TABLE', `${label}: entry index: ${what}`);
  if (frame.readUInt32LE(4) !== frame.length - SKIPPABLE_HEADER_SIZE) throw bad(`frame size field expected ${frame.length - SKIPPABLE_HEADER_SIZE}, found ${frame.readUInt32LE(4)}`);
  let doc: { airpackEntryIndex?: unknown; entries?: unknown };
  try {
    doc = JSON.parse(frame.subarray(SKIPPABLE_HEADER_SIZE).toString('utf8')) as typeof doc;
  } catch (err) {
    throw bad(`not valid JSON (${(err as Error).message})`);
  }
  if (doc === null || typeof doc !== 'object') throw bad(`expected a JSON object, found ${doc === null ? 'null' : typeof doc}`);
  if (doc.airpackEntryIndex !== VERSION) return undefined;
  if (!Array.isArray(doc.entries)) throw bad('expected an "entries" list');
  let last = -1;
  return doc.entries.map((e: unknown, i) => {
    const [name, headerOffset, size] = Array.isArray(e) ? (e as unknown[]) : [];
    if (typeof name !== 'string' || !Number.isSafeInteger(headerOffset) || !Number.isSafeInteger(size) || (size as number) < 0 || (headerOffset as number) <= last) {
      throw bad(`entry ${i} expected [name, headerOffset (increasing), size], found ${JSON.stringify(e)?.slice(0, 200)}`);
    }
    last = headerOffset as number;
    return { name, headerOffset: headerOffset as number, size: size as number };
  });
}
