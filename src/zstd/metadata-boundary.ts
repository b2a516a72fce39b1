/**
 * Marks where a tar's leading metadata entries end, for the zstd frame
 * writer: the bytes pass through unchanged, with one FRAME_BOUNDARY right
 * before the first entry that is not a metadata entry, so the metadata gets
 * a frame of its own and a loader decompresses only a few KB to find an image.
 */
import { METADATA_ENTRIES } from '../spec/media-types.js';
import type { FrameBoundary } from './frame-writer.js';
import { TarStreamParser } from '../tar/stream-parser.js';

/** Same value as zstd's FRAME_BOUNDARY; declared here so plain-tar callers need not load the zstd binding. */
const BOUNDARY: FrameBoundary = Object.freeze({ boundary: true as const });

export interface MetadataBoundaryOptions {
  /** Entry names that count as metadata. Default: manifest.json, repositories, index.json, oci-layout. */
  front?: readonly string[];
  /** Names the input in error messages. */
  source?: string;
}

function isFront(name: string, type: string, front: readonly string[]): boolean {
  if (type !== 'file' && type !== 'contiguous-file') return false;
  return front.includes(name.replace(/^(\.\/|\/)+/, ''));
}

/**
 * Passes `tar` through, inserting a frame boundary after the leading
 * metadata entries (and leading PAX global headers). Bytes are held back
 * only until the first other entry's header is seen (metadata is small; past
 * `maxHeldBytes` the rest passes through without a boundary). Headers are
 * parsed only up to that point; a malformed one throws TarError. When the
 * tar does not open with metadata, the boundary comes first, which the frame
 * writer ignores.
 */
export async function* withMetadataBoundary(
  tar: AsyncIterable<Buffer | Uint8Array>,
  opts: MetadataBoundaryOptions & { maxHeldBytes?: number } = {},
): AsyncGenerator<Buffer | FrameBoundary> {
  const front = opts.front ?? METADATA_ENTRIES;
  const maxHeld = opts.maxHeldBytes ?? 64 * 1024 * 1024;
  const parser = new TarStreamParser({ source: opts.source ?? 'stream' });
  // Held chunks start at offset 0: nothing is emitted before the boundary is placed.
  const held: Buffer[] = [];
  let heldBytes = 0;
  let placed = false;
  for await (const raw of tar) {
    const chunk = Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    if (placed) {
      yield chunk;
      continue;
    }
    held.push(chunk);
    heldBytes += chunk.length;
    let cut: number | undefined;
    for (const ev of parser.push(chunk)) {
      if (ev.kind === 'end') {
        cut = ev.end.offset;
        break;
      }
      // An entry's header (extended headers included) may straddle chunks; headerOffset is where it starts.
      if (ev.kind === 'entry' && ev.entry.type !== 'pax-global' && !isFront(ev.entry.name, ev.entry.type, front)) {
        cut = ev.entry.headerOffset;
        break;
      }
    }
    if (cut === undefined && heldBytes <= maxHeld) continue;
    const all = Buffer.concat(held, heldBytes);
    held.length = 0;
    placed = true;
    if (cut === undefined) {
      yield all;
      continue;
    }
    if (cut > 0) yield all.subarray(0, cut);
    yield BOUNDARY;
    if (cut < all.length) yield all.subarray(cut);
  }
  if (!placed && heldBytes > 0) yield Buffer.concat(held, heldBytes);
}
