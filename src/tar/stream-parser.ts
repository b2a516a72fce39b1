/**
 * Streaming raw tar reader: turns chunks of a tar stream into events
 * (entry, data, padding, end) without ever holding more than one header's
 * worth of bytes.
 *
 * Buffering: header blocks are gathered into a 512-byte scratch block (a
 * header may straddle chunks); extended-header data (PAX, GNU long names,
 * PAX globals) is gathered up to the configured limit; entry data and padding
 * are passed on as sub-arrays of the incoming chunks, never copied. After the
 * end-of-archive marker the remaining input is consumed and ignored, so a
 * pipeline feeding the parser always drains and never hangs.
 */
import type { Readable } from 'node:stream';
import { TarError, where } from './errors.js';
import { type AssemblerLimits, EntryAssembler, type TarEnd, type TarEntry } from './entry.js';
import { BLOCK_SIZE, isZeroBlock } from './header.js';

export type TarStreamEvent =
  /** A complete entry header (extended headers folded in). Its data events follow. */
  | { kind: 'entry'; entry: TarEntry }
  /** Entry content bytes, in order; `chunk` is a view into the input, valid as long as you keep it. */
  | { kind: 'data'; entry: TarEntry; chunk: Buffer }
  /** Bytes that pad the entry's data to a whole block, as found in the input. */
  | { kind: 'padding'; entry: TarEntry; chunk: Buffer }
  /** The end-of-archive marker, or the end of input on an entry boundary (zeroBlocks 0). Nothing follows. */
  | { kind: 'end'; end: TarEnd };

export interface TarStreamOptions extends AssemblerLimits {
  /** Name used in error messages. Default "stream". */
  source?: string;
}

type State =
  | { s: 'header' }
  | { s: 'extended'; need: number; parts: Buffer[]; got: number }
  | { s: 'data'; entry: TarEntry; left: number; padLeft: number; global: Buffer[] | undefined }
  | { s: 'padding'; entry: TarEntry; left: number; global: Buffer[] | undefined }
  | { s: 'zero'; at: number }
  | { s: 'done' };

/**
 * Push parser: feed chunks with `push()`, then call `finish()` at end of
 * input. Each call returns the events the bytes completed.
 */
export class TarStreamParser {
  private readonly source: string;
  private readonly assembler: EntryAssembler;
  private readonly scratch = Buffer.alloc(BLOCK_SIZE);
  private scratchLen = 0;
  private state: State = { s: 'header' };
  /** Offset in the tar stream of the next byte to be consumed. */
  private offset = 0;
  private sawAnything = false;

  constructor(opts: TarStreamOptions = {}) {
    this.source = opts.source ?? 'stream';
    this.assembler = new EntryAssembler(this.source, opts);
  }

  /** Bytes consumed so far. */
  get position(): number {
    return this.offset;
  }

  push(chunk: Buffer): TarStreamEvent[] {
    const events: TarStreamEvent[] = [];
    if (chunk.length > 0) this.sawAnything = true;
    let pos = 0;
    while (pos < chunk.length) {
      const st = this.state;
      switch (st.s) {
        case 'done':
          // Trailing bytes after the end marker (record padding) are ignored.
          this.offset += chunk.length - pos;
          return events;
        case 'header':
        case 'zero': {
          const take = Math.min(BLOCK_SIZE - this.scratchLen, chunk.length - pos);
          chunk.copy(this.scratch, this.scratchLen, pos, pos + take);
          this.scratchLen += take;
          pos += take;
          if (this.scratchLen < BLOCK_SIZE) break;
          this.scratchLen = 0;
          const at = this.offset;
          this.offset += BLOCK_SIZE;
          this.onBlock(st, at, events);
          break;
        }
        case 'extended': {
          const take = Math.min(st.need - st.got, chunk.length - pos);
          st.parts.push(chunk.subarray(pos, pos + take));
          st.got += take;
          pos += take;
          this.offset += take;
          if (st.got === st.need) {
            this.assembler.extendedData(Buffer.concat(st.parts));
            this.state = { s: 'header' };
          }
          break;
        }
        case 'data': {
          const take = Math.min(st.left, chunk.length - pos);
          const piece = chunk.subarray(pos, pos + take);
          events.push({ kind: 'data', entry: st.entry, chunk: piece });
          st.global?.push(piece);
          st.left -= take;
          pos += take;
          this.offset += take;
          if (st.left === 0) this.afterData(st.entry, st.padLeft, st.global);
          break;
        }
        case 'padding': {
          const take = Math.min(st.left, chunk.length - pos);
          events.push({ kind: 'padding', entry: st.entry, chunk: chunk.subarray(pos, pos + take) });
          st.left -= take;
          pos += take;
          this.offset += take;
          if (st.left === 0) this.endEntry(st.entry, st.global);
          break;
        }
      }
    }
    return events;
  }

  /** Call at end of input; throws TarError when the archive is incomplete. */
  finish(): TarStreamEvent[] {
    const st = this.state;
    const source = this.source;
    if (st.s === 'done') return [];
    if (st.s === 'zero') {
      // A lone zero block then EOF: accepted, as GNU tar and libarchive do.
      this.state = { s: 'done' };
      return [{ kind: 'end', end: { offset: st.at, zeroBlocks: 1 } }];
    }
    if (!this.sawAnything) throw new TarError('TAR_EMPTY', `${source}: expected a tar archive, found no bytes`, { source });
    if (st.s === 'header' && this.scratchLen === 0 && !this.assembler.hasPending) {
      // Input that stops on an entry boundary ends the archive, as Go's archive/tar (skopeo,
      // containerd) and GNU tar read it; a cut inside an entry is an error (below).
      this.state = { s: 'done' };
      return [{ kind: 'end', end: { offset: this.offset, zeroBlocks: 0 } }];
    }
    if (st.s === 'header') {
      const what = this.assembler.hasPending ? `after ${this.assembler.pendingDescription()}` : 'inside a header block';
      throw new TarError(
        'TAR_TRUNCATED',
        `${where({ source, offset: this.offset })}: input ends ${what}; expected a ${BLOCK_SIZE}-byte header, found ${this.scratchLen} bytes`,
        { source, offset: this.offset },
      );
    }
    if (st.s === 'extended') {
      throw new TarError(
        'TAR_TRUNCATED',
        `${where({ source, offset: this.offset })}: input ends inside ${this.assembler.pendingDescription()}; expected ${st.need} bytes of header data, found ${st.got}`,
        { source, offset: this.offset },
      );
    }
    const entry = st.entry;
    const expected = st.s === 'data' ? `${st.left} more data bytes` : `${st.left} more padding bytes`;
    throw new TarError(
      'TAR_TRUNCATED',
      `${where({ source, entry: entry.name, offset: entry.headerOffset })}: input ends at offset ${this.offset}; expected ${expected} (entry size ${entry.size})`,
      { source, entry: entry.name, offset: entry.headerOffset },
    );
  }

  private onBlock(st: { s: 'header' } | { s: 'zero'; at: number }, at: number, events: TarStreamEvent[]): void {
    const block = this.scratch;
    if (st.s === 'zero') {
      // Second block after a zero block: end marker either way; a non-zero one is ignored like trailing junk.
      this.state = { s: 'done' };
      events.push({ kind: 'end', end: { offset: st.at, zeroBlocks: isZeroBlock(block) ? 2 : 1 } });
      return;
    }
    if (isZeroBlock(block)) {
      if (this.assembler.hasPending) {
        throw new TarError(
          'TAR_ORPHAN_EXTENDED_HEADER',
          `${where({ source: this.source, offset: at })}: ${this.assembler.pendingDescription()} is followed by the end-of-archive marker; expected an entry header`,
          { source: this.source, offset: at },
        );
      }
      this.state = { s: 'zero', at };
      return;
    }
    const outcome = this.assembler.header(block, at);
    if (outcome.kind === 'extended') {
      if (outcome.paddedDataSize === 0) this.assembler.extendedData(Buffer.alloc(0));
      else this.state = { s: 'extended', need: outcome.paddedDataSize, parts: [], got: 0 };
      return;
    }
    const entry = outcome.entry;
    events.push({ kind: 'entry', entry });
    const global = entry.type === 'pax-global' ? [] : undefined;
    if (entry.size > 0) {
      this.state = { s: 'data', entry, left: entry.size, padLeft: entry.paddedDataSize - entry.size, global };
    } else {
      this.endEntry(entry, global);
    }
  }

  private afterData(entry: TarEntry, padLeft: number, global: Buffer[] | undefined): void {
    if (padLeft > 0) this.state = { s: 'padding', entry, left: padLeft, global };
    else this.endEntry(entry, global);
  }

  private endEntry(entry: TarEntry, global: Buffer[] | undefined): void {
    if (global) this.assembler.globalData(entry, Buffer.concat(global));
    this.state = { s: 'header' };
  }
}

/**
 * Reads a tar stream as events. Pulls from `input` only as fast as the
 * consumer iterates (back-pressure), and drains the input after the end
 * marker. Errors from the input stream propagate.
 */
export async function* readTarStream(
  input: AsyncIterable<Buffer | Uint8Array | string> | Iterable<Buffer | Uint8Array>,
  opts: TarStreamOptions = {},
): AsyncGenerator<TarStreamEvent> {
  const parser = new TarStreamParser(opts);
  for await (const raw of input) {
    const chunk = typeof raw === 'string' ? Buffer.from(raw) : Buffer.isBuffer(raw) ? raw : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    for (const ev of parser.push(chunk)) yield ev;
  }
  for (const ev of parser.finish()) yield ev;
}

/** Convenience: the entries of a tar stream (data skipped), and where it ended. */
export async function listTarStream(
  input: Readable | AsyncIterable<Buffer> | Iterable<Buffer>,
  opts: TarStreamOptions = {},
): Promise<{ entries: TarEntry[]; end: TarEnd }> {
  const entries: TarEntry[] = [];
  let end: TarEnd | undefined;
  for await (const ev of readTarStream(input, opts)) {
    if (ev.kind === 'entry') entries.push(ev.entry);
    else if (ev.kind === 'end') end = ev.end;
  }
  if (!end) throw new Error('listTarStream: parser finished without an end event');
  return { entries, end };
}
