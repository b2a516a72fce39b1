/**
 * The raw tar reader, file scan and stream parser: header formats (ustar,
 * GNU, PAX local and global, base-256 sizes), offsets and raw bytes,
 * chunking independence, and clear errors for every kind of bad input.
 * Headers are built by hand here so each case is exactly the bytes meant.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  listTarStream,
  readTarStream,
  scanTarFile,
  TarStreamParser,
  type TarEntry,
  type TarStreamEvent,
} from '../src/tar/index.js';
import { openDecompressed as openArchiveStream } from '../src/compress/index.js';
import { reorderTar } from '../src/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'airpack-tar-reader-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface HeaderSpec {
  name: string;
  size?: number;
  type?: string;
  linkname?: string;
  prefix?: string;
  /** Raw 12-byte size field, e.g. base-256. */
  sizeField?: Buffer;
  gnu?: boolean;
}

/** One 512-byte header block with a correct checksum. */
function header(h: HeaderSpec): Buffer {
  const b = Buffer.alloc(512);
  b.write(h.name, 0, 100, 'utf8');
  b.write('0000644\0', 100, 'latin1');
  b.write('0000000\0', 108, 'latin1');
  b.write('0000000\0', 116, 'latin1');
  if (h.sizeField) h.sizeField.copy(b, 124);
  else b.write(`${(h.size ?? 0).toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  b.write('00000000000\0', 136, 'latin1');
  b.write(h.type ?? '0', 156, 'latin1');
  if (h.linkname) b.write(h.linkname, 157, 100, 'utf8');
  if (h.gnu) b.write('ustar  \0', 257, 'latin1');
  else {
    b.write('ustar\0', 257, 'latin1');
    b.write('00', 263, 'latin1');
  }
  if (h.prefix) b.write(h.prefix, 345, 155, 'utf8');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of b) sum += x;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return b;
}

function pad(data: Buffer): Buffer {
  const rest = data.length % 512;
  return rest === 0 ? data : Buffer.concat([data, Buffer.alloc(512 - rest)]);
}

function file(name: string, data: Buffer, extra: Partial<HeaderSpec> = {}): Buffer {
  return Buffer.concat([header({ name, size: data.length, ...extra }), pad(data)]);
}

function paxRecords(records: Record<string, string>): Buffer {
  let out = '';
  for (const [k, v] of Object.entries(records)) {
    const body = ` ${k}=${v}\n`;
    let len = body.length + 1;
    while (`${len}${body}`.length !== len) len++;
    out += `${len}${body}`;
  }
  return Buffer.from(out, 'utf8');
}

function pax(records: Record<string, string>, type: 'x' | 'g' = 'x'): Buffer {
  const data = paxRecords(records);
  return Buffer.concat([header({ name: type === 'x' ? 'PaxHeaders/x' : 'pax_global_header', size: data.length, type }), pad(data)]);
}

const END = Buffer.alloc(1024);

/** Base-256 size field (GNU): 0x80 marker, big-endian value. */
function base256(n: bigint): Buffer {
  const f = Buffer.alloc(12);
  f[0] = 0x80;
  let v = n;
  for (let i = 11; i >= 1; i--) {
    f[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return f;
}

async function tmp(name: string, data: Buffer): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, data);
  return p;
}

/** Feeds `tar` to the stream parser in chunks of `size` and collects entries plus content/padding bytes per entry. */
function parseInChunks(tar: Buffer, size: number): { entries: TarEntry[]; data: Buffer[]; padding: Buffer[]; ends: TarStreamEvent[] } {
  const parser = new TarStreamParser();
  const events: TarStreamEvent[] = [];
  for (let i = 0; i < tar.length; i += size) events.push(...parser.push(tar.subarray(i, i + size)));
  events.push(...parser.finish());
  const entries: TarEntry[] = [];
  const data: Buffer[][] = [];
  const padding: Buffer[][] = [];
  for (const ev of events) {
    if (ev.kind === 'entry') {
      entries.push(ev.entry);
      data.push([]);
      padding.push([]);
    } else if (ev.kind === 'data') data[data.length - 1]!.push(ev.chunk);
    else if (ev.kind === 'padding') padding[padding.length - 1]!.push(ev.chunk);
  }
  return { entries, data: data.map((d) => Buffer.concat(d)), padding: padding.map((d) => Buffer.concat(d)), ends: events.filter((e) => e.kind === 'end') };
}

describe('header formats', () => {
  const long = `${'dir/'.repeat(30)}file-with-a-long-name.bin`;
  const tar = Buffer.concat([
    pax({ comment: 'global', 'airpack.test': 'yes' }, 'g'),
    file('a.txt', Buffer.from('hello')),
    pax({ path: long, 'airpack.local': '1' }),
    file('ignored-short-name', Buffer.from('long one')),
    file('name.txt', Buffer.from('prefixed'), { prefix: 'some/prefix' }),
    header({ name: 'big.bin', sizeField: base256(1000n) }),
    pad(Buffer.alloc(1000, 7)),
    header({ name: 'hard', type: '1', linkname: 'a.txt' }),
    header({ name: 'sym', type: '2', linkname: 'a.txt' }),
    header({ name: 'dir/', type: '5' }),
    // GNU long name and long link.
    header({ name: '././@LongLink', type: 'L', size: long.length + 5, gnu: true }),
    pad(Buffer.from(`${long}-gnu\0`)),
    header({ name: '././@LongLink', type: 'K', size: long.length + 1, gnu: true }),
    pad(Buffer.from(`${long}\0`)),
    header({ name: 'truncated-name', type: '2', linkname: 'truncated', gnu: true }),
    // PAX size overrides the header's size field.
    pax({ size: '600' }),
    header({ name: 'pax-size.bin', size: 0 }),
    pad(Buffer.alloc(600, 1)),
    END,
    Buffer.alloc(10240 - 1024), // record padding after the end marker, as GNU tar writes
  ]);

  const expected = [
    { name: 'pax_global_header', type: 'pax-global', size: paxRecords({ comment: 'global', 'airpack.test': 'yes' }).length },
    { name: 'a.txt', type: 'file', size: 5 },
    { name: long, type: 'file', size: 8 },
    { name: 'some/prefix/name.txt', type: 'file', size: 8 },
    { name: 'big.bin', type: 'file', size: 1000 },
    { name: 'hard', type: 'hardlink', size: 0, linkname: 'a.txt' },
    { name: 'sym', type: 'symlink', size: 0, linkname: 'a.txt' },
    { name: 'dir/', type: 'directory', size: 0 },
    { name: `${long}-gnu`, type: 'symlink', size: 0, linkname: long },
    { name: 'pax-size.bin', type: 'file', size: 600 },
  ];

  it('resolves names, links and sizes when scanning a file', async () => {
    const scan = await scanTarFile(await tmp('formats.tar', tar));
    expect(scan.entries.map((e) => ({ name: e.name, type: e.type, size: e.size, ...(e.linkname ? { linkname: e.linkname } : {}) }))).toEqual(expected);
    expect(scan.end.zeroBlocks).toBe(2);
    const [, a, longEntry] = scan.entries;
    expect(a!.pax.get('airpack.test')).toBe('yes');
    expect(longEntry!.pax.get('airpack.local')).toBe('1');
    // The PAX header blocks belong to the entry: header + 1 data block + own header.
    expect(longEntry!.rawHeaderBytes.length).toBe(3 * 512);
    expect(longEntry!.rawHeaderBytes.equals(tar.subarray(longEntry!.headerOffset, longEntry!.dataOffset))).toBe(true);
    for (const e of scan.entries) {
      expect(e.rawHeaderBytes.equals(tar.subarray(e.headerOffset, e.dataOffset)), e.name).toBe(true);
      expect(e.paddedDataSize % 512).toBe(0);
    }
  });

  // Issue 12: headers are lent out of the reader's window, which the next read overwrites; what an entry keeps is its own.
  it('keeps the raw header bytes of every entry when the scan jumps over data, in windows big and small', async () => {
    const parts: Buffer[] = [];
    for (let i = 0; i < 40; i++) {
      parts.push(pax({ path: `layer-${i}/${'x'.repeat(i * 7)}.tar`, mtime: `${1700000000 + i}.5` }));
      parts.push(file(`short-${i}`, Buffer.alloc((i % 5) * 9000 + 100, i)));
    }
    const big = Buffer.concat([...parts, END]);
    const scan = await scanTarFile(await tmp('windows.tar', big));
    expect(scan.entries).toHaveLength(40);
    for (const [i, e] of scan.entries.entries()) {
      expect(e.name).toBe(`layer-${i}/${'x'.repeat(i * 7)}.tar`);
      expect(e.rawHeaderBytes.equals(big.subarray(e.headerOffset, e.dataOffset)), e.name).toBe(true);
      expect(e.pax.get('mtime')).toBe(`${1700000000 + i}.5`);
    }
  });

  it('reads a numeric field out of a larger buffer, and never past its end', async () => {
    const { parseNumeric } = await import('../src/tar/index.js');
    expect(parseNumeric(Buffer.from('xx0000012 yy'), 2, 10)).toBe(10);
    expect(parseNumeric(Buffer.from('0000012'), 0, 12)).toBe(10);
    expect(parseNumeric(Buffer.from([0x80, 1]), 0, 4)).toBe(1);
    expect(parseNumeric(Buffer.from('17'), -3, 2)).toBe(15);
  });

  it('bsdtar agrees on names and sizes', async () => {
    const p = await tmp('formats-bsdtar.tar', tar);
    const listed = execFileSync('bsdtar', ['-tf', p], { encoding: 'utf8' }).trim().split('\n');
    expect(listed).toEqual(expected.filter((e) => e.type !== 'pax-global').map((e) => e.name));
  });

  it('gives the same entries, data and padding for any chunking of the stream', async () => {
    const scan = await scanTarFile(await tmp('formats2.tar', tar));
    for (const size of [1, 7, 511, 512, 513, 4096, tar.length]) {
      const r = parseInChunks(tar, size);
      expect(r.entries.map((e) => [e.name, e.headerOffset, e.dataOffset, e.size])).toEqual(scan.entries.map((e) => [e.name, e.headerOffset, e.dataOffset, e.size]));
      r.entries.forEach((e, i) => {
        expect(r.data[i]!.equals(tar.subarray(e.dataOffset, e.dataOffset + e.size)), `${size}: ${e.name}`).toBe(true);
        expect(r.padding[i]!.length).toBe(e.paddedDataSize - e.size);
        expect(e.rawHeaderBytes.equals(scan.entries[i]!.rawHeaderBytes)).toBe(true);
      });
      expect(r.ends).toEqual([{ kind: 'end', end: { offset: scan.end.offset, zeroBlocks: 2 } }]);
    }
  });

  it('keeps a leading PAX global header in front of the moved metadata', async () => {
    const t = Buffer.concat([pax({ comment: 'g' }, 'g'), file('layer.tar', Buffer.alloc(3000, 1)), file('manifest.json', Buffer.from('[]')), END]);
    const out = join(dir, 'global-out.tar');
    await reorderTar(await tmp('global.tar', t), out);
    const scan = await scanTarFile(out);
    expect(scan.entries.map((e) => e.name)).toEqual(['pax_global_header', 'manifest.json', 'layer.tar']);
  });

  it('never reads data after links, directories or devices, whatever their size field says (Go archive/tar rule)', async () => {
    const t = Buffer.concat([
      header({ name: 'hard', type: '1', linkname: 'a', size: 4096 }),
      header({ name: 'dir/', type: '5', size: 1024 }),
      header({ name: 'fifo', type: '6', size: 512 }),
      file('after', Buffer.from('still found')),
      END,
    ]);
    const scan = await scanTarFile(await tmp('stray-sizes.tar', t));
    expect(scan.entries.map((e) => [e.name, e.size, e.dataOffset])).toEqual([
      ['hard', 0, 512],
      ['dir/', 0, 1024],
      ['fifo', 0, 1536],
      ['after', 11, 2048],
    ]);
  });

  it('accepts a lone zero block at the end', async () => {
    const t = Buffer.concat([file('a', Buffer.from('x')), Buffer.alloc(512)]);
    expect((await scanTarFile(await tmp('lone-zero.tar', t))).end).toEqual({ offset: 1024, zeroBlocks: 1 });
    expect(parseInChunks(t, 100).ends).toEqual([{ kind: 'end', end: { offset: 1024, zeroBlocks: 1 } }]);
  });
});

describe('errors', () => {
  async function scanError(name: string, tar: Buffer): Promise<unknown> {
    return scanTarFile(await tmp(name, tar)).catch((e: unknown) => e);
  }
  function streamError(tar: Buffer, chunk = 100): unknown {
    try {
      parseInChunks(tar, chunk);
    } catch (e) {
      return e;
    }
    return undefined;
  }

  it('bad checksum names the offset and both values', async () => {
    const t = Buffer.concat([file('a', Buffer.from('x')), file('b', Buffer.from('y')), END]);
    t[1024 + 3] = t[1024 + 3]! ^ 0x20;
    for (const err of [await scanError('bad-sum.tar', t), streamError(t)]) {
      expect(err).toMatchObject({ code: 'TAR_BAD_CHECKSUM', offset: 1024 });
      expect((err as Error).message).toMatch(/offset 1024.*checksum expected 0\d+, found 0\d+/);
    }
  });

  it('absurd sizes: base-256 beyond 2^53, PAX size too big or not a number', async () => {
    const huge = Buffer.concat([header({ name: 'huge', sizeField: base256(1n << 60n) }), END]);
    expect(await scanError('huge.tar', huge)).toMatchObject({ code: 'TAR_BAD_SIZE', entry: 'huge' });
    const paxHuge = Buffer.concat([pax({ size: '99999999999999999999' }), header({ name: 'p' }), END]);
    expect(await scanError('pax-huge.tar', paxHuge)).toMatchObject({ code: 'TAR_BAD_SIZE' });
    const paxNaN = Buffer.concat([pax({ size: '12abc' }), header({ name: 'p' }), END]);
    expect(streamError(paxNaN)).toMatchObject({ code: 'TAR_BAD_SIZE' });
    const badOctal = header({ name: 'bad', size: 1 });
    badOctal.write('12x45678901\0', 124, 'latin1');
    // Fix the checksum after editing the size field.
    badOctal.fill(0x20, 148, 156);
    let sum = 0;
    for (const x of badOctal) sum += x;
    badOctal.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    expect(await scanError('bad-octal.tar', Buffer.concat([badOctal, END]))).toMatchObject({ code: 'TAR_BAD_NUMBER', entry: 'bad' });
  });

  it('a size running past the end of the file is truncation, named with the entry', async () => {
    const t = Buffer.concat([header({ name: 'layer.tar', size: 1_000_000 }), Buffer.alloc(4096)]);
    const err = await scanError('past-end.tar', t);
    expect(err).toMatchObject({ code: 'TAR_TRUNCATED', entry: 'layer.tar', offset: 0 });
    expect((err as Error).message).toMatch(/expected 1000000 bytes of data, the archive ends 4096 bytes in/);
    expect(streamError(t)).toMatchObject({ code: 'TAR_TRUNCATED', entry: 'layer.tar' });
  });

  it('truncation inside a header and inside an extended header', async () => {
    const t = Buffer.concat([file('a', Buffer.from('x')), header({ name: 'b' }).subarray(0, 300)]);
    expect(await scanError('half-header.tar', t)).toMatchObject({ code: 'TAR_TRUNCATED', offset: 1024 });
    expect(streamError(t)).toMatchObject({ code: 'TAR_TRUNCATED', offset: 1024 });
    const p = pax({ path: 'x'.repeat(600) });
    const t2 = p.subarray(0, 700);
    expect(await scanError('half-pax.tar', t2)).toMatchObject({ code: 'TAR_TRUNCATED' });
    expect(streamError(t2)).toMatchObject({ code: 'TAR_TRUNCATED' });
  });

  it('an extended header followed by the end marker is an orphan', async () => {
    const t = Buffer.concat([pax({ path: 'x' }), END]);
    expect(await scanError('orphan.tar', t)).toMatchObject({ code: 'TAR_ORPHAN_EXTENDED_HEADER' });
    expect(streamError(t)).toMatchObject({ code: 'TAR_ORPHAN_EXTENDED_HEADER' });
  });

  it('malformed PAX records and oversized extended headers', async () => {
    const bad = Buffer.from('5 path=abc\n');
    const t = Buffer.concat([header({ name: 'p', type: 'x', size: bad.length }), pad(bad), header({ name: 'f' }), END]);
    expect(await scanError('bad-pax.tar', t)).toMatchObject({ code: 'TAR_BAD_PAX' });
    const big = Buffer.concat([header({ name: 'p', type: 'x', size: 2 * 1024 * 1024 }), Buffer.alloc(2 * 1024 * 1024), header({ name: 'f' }), END]);
    expect(await scanError('big-pax.tar', big)).toMatchObject({ code: 'TAR_EXTENDED_HEADER_TOO_LARGE' });
    expect(streamError(big, 65536)).toMatchObject({ code: 'TAR_EXTENDED_HEADER_TOO_LARGE' });
  });

  it('an archive cut on an entry boundary ends there (as Go archive/tar reads it); empty input is refused', async () => {
    const t = file('a', Buffer.from('x'));
    const { entries, end } = await listTarStream([t]);
    expect(entries.map((e) => e.name)).toEqual(['a']);
    expect(end).toEqual({ offset: 1024, zeroBlocks: 0 });
    // A cut inside the entry's data is still truncation.
    expect(streamError(t.subarray(0, 700))).toMatchObject({ code: 'TAR_TRUNCATED' });
    expect(streamError(Buffer.alloc(0))).toMatchObject({ code: 'TAR_EMPTY' });
    // The file scan reports that the marker is missing (zeroBlocks 0) and ends there, like every reader.
    expect((await scanTarFile(await tmp('no-end.tar', t))).end).toEqual({ offset: 1024, zeroBlocks: 0 });
  });

  it('an input stream error propagates instead of hanging', async () => {
    const t = Buffer.concat([file('a', Buffer.alloc(100_000, 1)), END]);
    const failing = new Readable({
      read() {
        this.push(t.subarray(0, 5000));
        this.destroy(new Error('disk on fire'));
      },
    });
    await expect(listTarStream(failing)).rejects.toThrow('disk on fire');
  });

  it('stops reading cleanly after the end marker (trailing junk ignored, input drained)', async () => {
    const t = Buffer.concat([file('a', Buffer.from('x')), END, Buffer.from('junk'.repeat(1000))]);
    const events: string[] = [];
    for await (const ev of readTarStream(Readable.from([t.subarray(0, 700), t.subarray(700)]))) {
      // The 700-byte split cuts the padding in two events; count kinds once.
      if (events[events.length - 1] !== ev.kind) events.push(ev.kind);
    }
    expect(events).toEqual(['entry', 'data', 'padding', 'end']);
  });
});

describe('openArchiveStream', () => {
  const tar = Buffer.concat([file('a.txt', Buffer.from('hello')), END]);

  async function readAll(path: string): Promise<{ compression: string; data: Buffer }> {
    const { compression, stream } = await openArchiveStream(path);
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    return { compression, data: Buffer.concat(chunks) };
  }

  it('detects plain, gzip and zstd by magic bytes, whatever the name', async () => {
    expect(await readAll(await tmp('plain.zst', tar))).toEqual({ compression: 'none', data: tar });
    expect(await readAll(await tmp('gz.tar', gzipSync(tar)))).toEqual({ compression: 'gzip', data: tar });
    const zst = execFileSync('zstd', ['-q', '-c', '-19'], { input: tar });
    expect(await readAll(await tmp('zstd.gz', zst))).toEqual({ compression: 'zstd', data: tar });
    // A zstd file opening with a skippable frame.
    const skippable = Buffer.alloc(16);
    skippable.writeUInt32LE(0x184d2a53, 0);
    skippable.writeUInt32LE(8, 4);
    expect(await readAll(await tmp('skip.zst', Buffer.concat([skippable, zst])))).toEqual({ compression: 'zstd', data: tar });
  });

  it('reads bzip2, lz4 and xz through the system decompressors', async () => {
    for (const [tool, kind] of [['bzip2', 'bzip2'], ['lz4', 'lz4'], ['xz', 'xz']] as const) {
      const packed = execFileSync(tool, ['-c'], { input: tar });
      expect(await readAll(await tmp(`x.tar.${tool}`, packed))).toEqual({ compression: kind, data: tar });
    }
  });

  it('names the file when bzip2 data is corrupt', async () => {
    const bz = execFileSync('bzip2', ['-c'], { input: Buffer.concat([tar, Buffer.alloc(100_000, 7)]) });
    bz[bz.length - 30] = bz[bz.length - 30]! ^ 0xff;
    await expect(readAll(await tmp('bad.tar.bz2', bz))).rejects.toMatchObject({ code: 'ARCHIVE_INVALID', message: /bad\.tar\.bz2: bzip2 data is not decodable/ });
  });

  it('surfaces corrupt gzip as a stream error', async () => {
    const gz = gzipSync(Buffer.concat([tar, Buffer.alloc(100_000, 3)]));
    gz[gz.length - 20] = gz[gz.length - 20]! ^ 0xff;
    gz[40] = gz[40]! ^ 0xff;
    await expect(readAll(await tmp('bad.gz', gz))).rejects.toThrow();
    expect((await readFile(join(dir, 'bad.gz'))).length).toBe(gz.length);
  });
});
