/**
 * Tar entries as the raw reader yields them, and the assembler that folds
 * extended headers (PAX 'x', GNU 'L'/'K') into the entry they describe.
 *
 * An entry spans [headerOffset, dataOffset + paddedDataSize) of the tar
 * stream: its extended-header blocks, its own header block, then its data
 * padded to whole blocks. Copying that span moves the entry byte for byte.
 */
import { TarError, where } from './errors.js';
import { BLOCK_SIZE, type HeaderBlock, paddedSize, parseHeaderBlock, parsePaxRecords, parsePaxSize } from './header.js';

export type TarEntryType =
  | 'file'
  | 'hardlink'
  | 'symlink'
  | 'char-device'
  | 'block-device'
  | 'directory'
  | 'fifo'
  | 'contiguous-file'
  /** A PAX global header ('g'); kept as an entry so copies stay byte-exact. */
  | 'pax-global'
  | 'gnu-sparse'
  | 'gnu-dumpdir'
  | 'gnu-volume-label'
  | 'gnu-multivolume'
  | 'unknown';

export interface TarEntry {
  /** Resolved path: PAX `path`, else GNU long name, else ustar prefix + name. */
  name: string;
  type: TarEntryType;
  /** The raw type flag character of the entry's own header. */
  typeflag: string;
  /** Bytes of data that follow the header (0 for links, directories, devices). */
  size: number;
  /** Resolved link target: PAX `linkpath`, else GNU long link, else the header field. */
  linkname: string;
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch; PAX `mtime` may carry a fraction. */
  mtime: number;
  /** Effective PAX records: global ones overlaid with this entry's own. */
  pax: ReadonlyMap<string, string>;
  /** Offset of the first header block belonging to the entry (extended headers included). */
  headerOffset: number;
  /** Offset of the first data byte (right after the entry's own header block). */
  dataOffset: number;
  /** All header blocks of the entry, extended headers and their data included, as read. */
  rawHeaderBytes: Buffer;
  /** `size` rounded up to whole blocks: what follows `dataOffset` in the stream. */
  paddedDataSize: number;
}

/** Offset just past the entry (its data padding included). */
export function entryEnd(entry: TarEntry): number {
  return entry.dataOffset + entry.paddedDataSize;
}

/** Where an archive ended. */
export interface TarEnd {
  /** Offset of the end-of-archive marker (or of EOF when there is none). */
  offset: number;
  /** Zero blocks found at `offset`: 2 normally, 1 for a lone block, 0 when the input just stops. */
  zeroBlocks: number;
}

export interface AssemblerLimits {
  /** Upper bound on one extended header's data (PAX, long name). Default 1 MiB. */
  maxExtendedHeaderSize?: number;
}

export const DEFAULT_MAX_EXTENDED_HEADER = 1024 * 1024;

/** What the reader must do after handing a header block to the assembler. */
export type HeaderOutcome =
  /** An extended header: read `dataSize` bytes (padded to `paddedDataSize`) and pass them to `extendedData`. */
  | { kind: 'extended'; dataSize: number; paddedDataSize: number }
  /** A complete entry; its data follows in the stream. */
  | { kind: 'entry'; entry: TarEntry };

const TYPES: Record<string, TarEntryType> = {
  '0': 'file',
  '\0': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char-device',
  '4': 'block-device',
  '5': 'directory',
  '6': 'fifo',
  '7': 'contiguous-file',
  g: 'pax-global',
  S: 'gnu-sparse',
  D: 'gnu-dumpdir',
  V: 'gnu-volume-label',
  M: 'gnu-multivolume',
};

/** Type flags whose header is an extension for the next entry. */
const EXTENDED = new Set(['x', 'L', 'K']);

interface Pending {
  start: number;
  pax: Map<string, string> | undefined;
  longName: string | undefined;
  longLink: string | undefined;
  /** Type flag and offset of the last extended header, for errors. */
  lastType: string;
  lastOffset: number;
}

/**
 * Folds header blocks into entries. The reader calls `header()` for every
 * non-zero header block; for extended headers it then reads their data and
 * calls `extendedData()`. For PAX global headers it calls `globalData()` with
 * the entry data once read.
 */
export class EntryAssembler {
  private pending: Pending | undefined;
  private readonly global = new Map<string, string>();
  private readonly maxExtended: number;
  private extendedHeader: { header: HeaderBlock; offset: number } | undefined;
  /**
   * The pending extended headers' raw bytes, gathered here and copied out once
   * per entry: a copy per block and a concat were most of a header scan's
   * allocations (issue 12). The blocks it is given are views, valid only during the call.
   */
  private raw = Buffer.alloc(4 * BLOCK_SIZE);
  private rawLength = 0;

  constructor(
    private readonly source: string,
    limits: AssemblerLimits = {},
  ) {
    this.maxExtended = limits.maxExtendedHeaderSize ?? DEFAULT_MAX_EXTENDED_HEADER;
  }

  /** True while extended headers wait for their entry; EOF now means a truncated archive. */
  get hasPending(): boolean {
    return this.pending !== undefined;
  }

  /** Describes the waiting extended header for error messages. */
  pendingDescription(): string {
    const p = this.pending;
    return p ? `extended header '${p.lastType}' at offset ${p.lastOffset}` : 'nothing';
  }

  header(block: Buffer, offset: number): HeaderOutcome {
    const h = parseHeaderBlock(block, offset, this.source);
    if (EXTENDED.has(h.typeflag)) {
      if (h.size > this.maxExtended) {
        throw new TarError(
          'TAR_EXTENDED_HEADER_TOO_LARGE',
          `${where({ source: this.source, entry: h.name, offset })}: extended header '${h.typeflag}' expected at most ${this.maxExtended} bytes, found ${h.size}`,
          { source: this.source, entry: h.name, offset },
        );
      }
      if (!this.pending) {
        this.pending = { start: offset, pax: undefined, longName: undefined, longLink: undefined, lastType: '', lastOffset: 0 };
        this.rawLength = 0;
      }
      this.appendRaw(block, BLOCK_SIZE);
      this.pending.lastType = h.typeflag;
      this.pending.lastOffset = offset;
      this.extendedHeader = { header: h, offset };
      return { kind: 'extended', dataSize: h.size, paddedDataSize: paddedSize(h.size) };
    }
    return { kind: 'entry', entry: this.finish(h, block, offset) };
  }

  /** Appends `bytes` to the pending raw header bytes, zero-padded to `length`. */
  private appendRaw(bytes: Buffer, length: number): void {
    const need = this.rawLength + length;
    if (need > this.raw.length) {
      const bigger = Buffer.alloc(Math.max(need, 2 * this.raw.length));
      this.raw.copy(bigger, 0, 0, this.rawLength);
      this.raw = bigger;
    }
    const n = Math.min(bytes.length, length);
    bytes.copy(this.raw, this.rawLength, 0, n);
    this.raw.fill(0, this.rawLength + n, need);
    this.rawLength = need;
  }

  /** Takes the data of the extended header announced by the last `header()` call (padded or not). */
  extendedData(data: Buffer): void {
    const ext = this.extendedHeader;
    const p = this.pending;
    if (!ext || !p) throw new Error('EntryAssembler.extendedData called without an extended header');
    this.extendedHeader = undefined;
    const { header: h, offset } = ext;
    this.appendRaw(data, paddedSize(h.size));
    const content = data.subarray(0, h.size);
    const ctx = { source: this.source, offset, entry: h.name };
    if (h.typeflag === 'x') {
      p.pax = parsePaxRecords(content, p.pax ?? new Map(), ctx);
    } else if (h.typeflag === 'L') {
      p.longName = stripNuls(content);
    } else {
      p.longLink = stripNuls(content);
    }
  }

  /** Applies the records of a PAX global header ('g') entry to all later entries. */
  globalData(entry: TarEntry, data: Buffer): void {
    parsePaxRecords(data.subarray(0, entry.size), this.global, { source: this.source, offset: entry.headerOffset, entry: entry.name });
  }

  private finish(h: HeaderBlock, block: Buffer, offset: number): TarEntry {
    const p = this.pending;
    this.pending = undefined;
    const type: TarEntryType = TYPES[h.typeflag] ?? 'unknown';
    const local = p?.pax;
    const ctx = { source: this.source, offset: p?.start ?? offset, entry: h.name };

    let name = local?.get('path') ?? p?.longName ?? (h.prefix ? `${h.prefix}/${h.name}` : h.name);
    const linkname = local?.get('linkpath') ?? p?.longLink ?? h.linkname;
    const paxSize = local?.get('size');
    let size = paxSize !== undefined ? parsePaxSize(paxSize, { ...ctx, entry: name }) : h.size;
    if (type === 'pax-global') {
      if (name === '') name = 'pax_global_header';
      // Its records are held in memory like an extended header's; same limit.
      if (size > this.maxExtended) {
        throw new TarError(
          'TAR_EXTENDED_HEADER_TOO_LARGE',
          `${where(ctx)}: PAX global header expected at most ${this.maxExtended} bytes, found ${size}`,
          ctx,
        );
      }
    }

    // Which types carry data decides where the next header is. Links,
    // directories and devices store none whatever the size field says. This
    // is Go archive/tar's rule (docker, containerd, wharfie read with it);
    // libarchive instead honours a hard link's size once it has seen a PAX
    // header, which no image tool writes.
    switch (type) {
      case 'hardlink':
      case 'symlink':
      case 'char-device':
      case 'block-device':
      case 'directory':
      case 'fifo':
        size = 0;
        break;
      default:
        break;
    }

    let pax: ReadonlyMap<string, string> = local ?? EMPTY;
    // The entry's own records are its own map already (made for this entry); globals need a merge.
    if (this.global.size > 0) {
      const merged = new Map(this.global);
      if (local) for (const [k, v] of local) merged.set(k, v);
      pax = merged;
    }
    const mtimeText = pax.get('mtime');
    const mtime = mtimeText !== undefined && Number.isFinite(Number(mtimeText)) ? Number(mtimeText) : h.mtime;
    let rawHeaderBytes: Buffer;
    if (p) {
      this.appendRaw(block, BLOCK_SIZE);
      rawHeaderBytes = Buffer.from(this.raw.subarray(0, this.rawLength));
    } else rawHeaderBytes = Buffer.from(block);
    return {
      name,
      type,
      typeflag: h.typeflag,
      size,
      linkname,
      mode: h.mode,
      uid: numberOr(pax.get('uid'), h.uid),
      gid: numberOr(pax.get('gid'), h.gid),
      mtime,
      pax,
      headerOffset: p?.start ?? offset,
      dataOffset: offset + BLOCK_SIZE,
      rawHeaderBytes,
      paddedDataSize: paddedSize(size),
    };
  }
}

const EMPTY: ReadonlyMap<string, string> = new Map();

function numberOr(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : fallback;
}

function stripNuls(buf: Buffer): string {
  let end = buf.length;
  while (end > 0 && buf[end - 1] === 0) end--;
  return buf.toString('utf8', 0, end);
}
