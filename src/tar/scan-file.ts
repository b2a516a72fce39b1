/**
 * Header-only scan of a seekable (plain, uncompressed) tar file: reads each
 * header with a positional read and jumps over the data, so a multi-GB image
 * tarball is indexed with a few hundred small reads.
 */
import { readSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { TarError, where } from './errors.js';
import { type AssemblerLimits, EntryAssembler, type TarEnd, type TarEntry, entryEnd } from './entry.js';
import { BLOCK_SIZE, isZeroBlock, paddedSize } from './header.js';

export interface ScanOptions extends AssemblerLimits {
  /** Name used in error messages; defaults to the path (or "tar file"). */
  source?: string;
}

/** Result of a complete scan. */
export interface TarScan {
  entries: TarEntry[];
  end: TarEnd;
  /** Size of the file; bytes after the end marker are ignored. */
  fileSize: number;
}

// Headers of small entries sit close together; one read usually covers several.
const WINDOW = 16 * 1024;

/**
 * Positional reads through a small window cache. Reads are synchronous:
 * a scan is hundreds of tiny reads, and a thread-pool round trip per
 * header costs ~20x the read itself on a page-cached file (the whole scan
 * of a 333 MiB docker save drops from ~25 ms to ~2 ms).
 */
class BlockReader {
  private buf = Buffer.alloc(WINDOW);
  private bufStart = 0;
  private bufLen = 0;

  constructor(private readonly fh: FileHandle) {}

  /** Reads exactly `length` bytes at `position`; the caller has checked they exist. */
  read(position: number, length: number): Buffer {
    if (position >= this.bufStart && position + length <= this.bufStart + this.bufLen) {
      return this.buf.subarray(position - this.bufStart, position - this.bufStart + length);
    }
    if (length > WINDOW) {
      const out = Buffer.allocUnsafe(length);
      readFully(this.fh, out, position);
      return out;
    }
    const bytesRead = readSync(this.fh.fd, this.buf, 0, WINDOW, position);
    this.bufStart = position;
    this.bufLen = bytesRead;
    if (bytesRead < length) {
      // The file shrank under us; treat like truncation at the read position.
      throw new Error(`short read at offset ${position}: expected ${length} bytes, got ${bytesRead}`);
    }
    return this.buf.subarray(0, length);
  }
}

function readFully(fh: FileHandle, out: Buffer, position: number): void {
  let done = 0;
  while (done < out.length) {
    const bytesRead = readSync(fh.fd, out, done, out.length - done, position + done);
    if (bytesRead === 0) throw new Error(`short read at offset ${position + done}: file ended`);
    done += bytesRead;
  }
}

/**
 * Yields the entries of a plain tar file in order, reading headers only.
 * Returns (as the generator's return value) where the archive ended.
 * Throws TarError for a bad checksum, truncation or an absurd size.
 */
export async function* iterateTarFile(file: string | FileHandle, opts: ScanOptions = {}): AsyncGenerator<TarEntry, TarEnd & { fileSize: number }> {
  const fh = typeof file === 'string' ? await open(file, 'r') : file;
  const source = opts.source ?? (typeof file === 'string' ? file : 'tar file');
  try {
    const fileSize = (await fh.stat()).size;
    if (fileSize === 0) throw new TarError('TAR_EMPTY', `${source}: expected a tar archive, found an empty file`, { source });
    const reader = new BlockReader(fh);
    const assembler = new EntryAssembler(source, opts);
    let pos = 0;
    for (;;) {
      if (pos + BLOCK_SIZE > fileSize) {
        if (assembler.hasPending) {
          throw new TarError(
            'TAR_TRUNCATED',
            `${where({ source, offset: pos })}: file ends after ${assembler.pendingDescription()}; expected the header of the entry it describes`,
            { source, offset: pos },
          );
        }
        if (pos === fileSize) return { offset: pos, zeroBlocks: 0, fileSize };
        throw new TarError(
          'TAR_TRUNCATED',
          `${where({ source, offset: pos })}: expected a ${BLOCK_SIZE}-byte header block, found ${fileSize - pos} bytes before end of file`,
          { source, offset: pos },
        );
      }
      const block = reader.read(pos, BLOCK_SIZE);
      if (isZeroBlock(block)) {
        if (assembler.hasPending) {
          throw new TarError(
            'TAR_ORPHAN_EXTENDED_HEADER',
            `${where({ source, offset: pos })}: ${assembler.pendingDescription()} is followed by the end-of-archive marker; expected an entry header`,
            { source, offset: pos },
          );
        }
        let zeroBlocks = 1;
        if (pos + 2 * BLOCK_SIZE <= fileSize && isZeroBlock(reader.read(pos + BLOCK_SIZE, BLOCK_SIZE))) zeroBlocks = 2;
        return { offset: pos, zeroBlocks, fileSize };
      }
      const outcome = assembler.header(block, pos);
      if (outcome.kind === 'extended') {
        const dataStart = pos + BLOCK_SIZE;
        if (dataStart + outcome.paddedDataSize > fileSize) {
          throw truncated(source, `extended header at offset ${pos}`, dataStart, outcome.paddedDataSize, fileSize, pos);
        }
        // Copy: the window buffer is reused by the next read.
        assembler.extendedData(Buffer.from(reader.read(dataStart, outcome.paddedDataSize)));
        pos = dataStart + outcome.paddedDataSize;
        continue;
      }
      const entry = outcome.entry;
      const end = entryEnd(entry);
      if (end > fileSize) {
        throw truncated(source, `entry ${JSON.stringify(entry.name)}`, entry.dataOffset, entry.paddedDataSize, fileSize, entry.headerOffset, entry.name);
      }
      if (entry.type === 'pax-global') {
        assembler.globalData(entry, Buffer.from(reader.read(entry.dataOffset, paddedSize(entry.size))));
      }
      yield entry;
      pos = end;
    }
  } finally {
    if (typeof file === 'string') await fh.close();
  }
}

function truncated(source: string, what: string, dataStart: number, padded: number, fileSize: number, offset: number, entry?: string): TarError {
  return new TarError(
    'TAR_TRUNCATED',
    `${where({ source, offset })}: ${what} expected ${padded} bytes of data (padded) at offset ${dataStart}, ` +
      `found ${Math.max(0, fileSize - dataStart)} before end of file`,
    entry === undefined ? { source, offset } : { source, offset, entry },
  );
}

/** Scans a whole plain tar file and returns its entries and where it ended. */
export async function scanTarFile(file: string | FileHandle, opts: ScanOptions = {}): Promise<TarScan> {
  const entries: TarEntry[] = [];
  const it = iterateTarFile(file, opts);
  for (;;) {
    const r = await it.next();
    if (r.done) return { entries, end: { offset: r.value.offset, zeroBlocks: r.value.zeroBlocks }, fileSize: r.value.fileSize };
    entries.push(r.value);
  }
}
