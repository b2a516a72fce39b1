/**
 * Opens an image archive whatever its compression: plain tar, gzip or zstd,
 * told apart by magic bytes (never by file name), and hands back the plain
 * tar stream.
 */
import { open } from 'node:fs/promises';
import { pipeline, type Readable, type Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Magic } from '../spec/media-types.js';
import { TarError } from './errors.js';

export type Compression = 'none' | 'gzip' | 'zstd';

/** Bytes needed to tell the compressions apart. */
export const MAGIC_PEEK_SIZE = 6;

const XZ = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);

export interface OpenArchiveOptions {
  /** Window cap for zstd input, log2. Default 27 (128 MiB). */
  windowLogMax?: number;
  /** Read size for the file; large reads keep the decompressor busy. Default 1 MiB. */
  highWaterMark?: number;
}

export interface OpenedArchive {
  compression: Compression;
  /** The plain tar bytes. Errors (I/O, corrupt compression) surface on this stream. */
  stream: Readable;
}

/**
 * Tells the compression from the first bytes. Throws
 * TAR_UNSUPPORTED_COMPRESSION for bzip2, xz and lz4, which image tools do
 * not write and we do not decode. Anything else counts as plain tar; the tar
 * reader then rejects what is not a tar.
 */
export function detectCompression(head: Buffer, source = 'input'): Compression {
  if (head.length >= 2 && head.subarray(0, 2).equals(Magic.gzip)) return 'gzip';
  if (head.length >= 4) {
    if (head.subarray(0, 4).equals(Magic.zstd)) return 'zstd';
    const magic = head.readUInt32LE(0);
    // A zstd file may open with a skippable frame (e.g. a seek table or metadata written first).
    if ((magic & 0xfffffff0) >>> 0 === Magic.zstdSkippableLow) return 'zstd';
  }
  let found: string | undefined;
  if (head.subarray(0, 3).equals(Magic.bzip2)) found = 'bzip2';
  else if (head.subarray(0, 4).equals(Magic.lz4)) found = 'lz4';
  else if (head.subarray(0, 6).equals(XZ)) found = 'xz';
  if (found) {
    throw new TarError(
      'TAR_UNSUPPORTED_COMPRESSION',
      `${source}: expected a plain, gzip or zstd tar archive, found ${found} data (magic ${head.subarray(0, 6).toString('hex')})`,
      { source },
    );
  }
  return 'none';
}

/** Wraps `raw` in the decompressor for `compression`; errors of both ends surface on the returned stream. */
export async function decompressTo(raw: Readable, compression: Compression, source: string, opts: OpenArchiveOptions = {}): Promise<Readable> {
  if (compression === 'none') return raw;
  let decoder: Transform;
  if (compression === 'gzip') {
    decoder = createGunzip({ chunkSize: 256 * 1024 });
  } else {
    // Loaded on demand: the native zstd binding costs start-up time that plain-tar callers need not pay.
    const { createZstdDecoder, DEFAULT_WINDOW_LOG_MAX } = await import('../zstd/stream-decoder.js');
    decoder = createZstdDecoder({ windowLogMax: opts.windowLogMax ?? DEFAULT_WINDOW_LOG_MAX, source });
  }
  // pipeline() destroys the decoder with the source's error, so consumers of the decoder see it.
  return pipeline(raw, decoder, () => {});
}

/** Opens a file, detects its compression by magic bytes, and returns the plain tar stream. */
export async function openArchiveStream(path: string, opts: OpenArchiveOptions = {}): Promise<OpenedArchive> {
  const fh = await open(path, 'r');
  let head: Buffer;
  try {
    const buf = Buffer.alloc(MAGIC_PEEK_SIZE);
    const { bytesRead } = await fh.read(buf, 0, MAGIC_PEEK_SIZE, 0);
    head = buf.subarray(0, bytesRead);
  } catch (err) {
    await fh.close();
    throw err;
  }
  let compression: Compression;
  try {
    compression = detectCompression(head, path);
  } catch (err) {
    await fh.close();
    throw err;
  }
  // The stream takes over the handle and closes it when done or destroyed.
  const raw = fh.createReadStream({ highWaterMark: opts.highWaterMark ?? 1024 * 1024, start: 0 });
  try {
    return { compression, stream: await decompressTo(raw, compression, path, opts) };
  } catch (err) {
    raw.destroy();
    throw err;
  }
}

/**
 * Reads at least `n` bytes (fewer at end of stream) and puts them back with
 * `unshift`, so the stream is handed on unchanged and without an extra layer.
 */
async function peek(input: Readable, n: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let have = 0;
  let ended = input.readableEnded;
  while (have < n && !ended) {
    const chunk = input.read() as Buffer | string | null;
    if (chunk !== null) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      parts.push(buf);
      have += buf.length;
      continue;
    }
    ended = await new Promise<boolean>((resolve, reject) => {
      const done = (value: boolean, err?: Error): void => {
        input.off('readable', onReadable);
        input.off('end', onEnd);
        input.off('error', onError);
        input.off('close', onClose);
        if (err) reject(err);
        else resolve(value);
      };
      const onReadable = (): void => done(false);
      const onEnd = (): void => done(true);
      const onError = (err: Error): void => done(true, err);
      const onClose = (): void => done(true, input.errored ?? undefined);
      input.on('readable', onReadable);
      input.on('end', onEnd);
      input.on('error', onError);
      input.on('close', onClose);
    });
  }
  const head = Buffer.concat(parts);
  if (head.length > 0) input.unshift(head);
  return head;
}

/**
 * Detects the compression of a stream by peeking at its first bytes, and
 * returns the plain tar stream (the peeked bytes included).
 */
export async function decompressArchiveStream(input: Readable, opts: OpenArchiveOptions & { source?: string } = {}): Promise<OpenedArchive> {
  const source = opts.source ?? 'stream';
  const head = await peek(input, MAGIC_PEEK_SIZE);
  let compression: Compression;
  try {
    compression = detectCompression(head, source);
  } catch (err) {
    input.destroy();
    throw err;
  }
  try {
    return { compression, stream: await decompressTo(input, compression, source, opts) };
  } catch (err) {
    input.destroy();
    throw err;
  }
}
