/**
 * Opens compressed input, file or stream, whatever its compression (see
 * detect.ts), and hands back the plain bytes with the compression found.
 */
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { decompressStream, type DecodeOptions } from './decode.js';
import { type Compression, detectCompression, MAGIC_PEEK_SIZE } from './detect.js';

export interface OpenOptions extends DecodeOptions {
  /** Read size for the file; large reads keep the decompressor busy. Default 1 MiB. */
  highWaterMark?: number;
}

export interface Decompressed {
  compression: Compression;
  /** The plain bytes. Errors (I/O, corrupt compression) surface on this stream. */
  stream: Readable;
}

/** The first bytes of a file (fewer when it is shorter). */
export async function readHead(path: string, length = MAGIC_PEEK_SIZE): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** Opens a file, detects its compression by magic bytes, and returns the plain bytes. */
export async function openDecompressed(path: string, opts: OpenOptions = {}): Promise<Decompressed> {
  const fh = await open(path, 'r');
  let raw: Readable | undefined;
  try {
    const head = Buffer.alloc(MAGIC_PEEK_SIZE);
    const { bytesRead } = await fh.read(head, 0, MAGIC_PEEK_SIZE, 0);
    const compression = detectCompression(head.subarray(0, bytesRead));
    // The stream takes over the handle and closes it when done or destroyed.
    raw = fh.createReadStream({ highWaterMark: opts.highWaterMark ?? 1024 * 1024, start: 0 });
    return { compression, stream: await decompressStream(raw, compression, path, opts) };
  } catch (err) {
    if (raw) raw.destroy();
    else await fh.close();
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

/** Detects the compression of a stream by peeking at its first bytes, and returns the plain bytes (the peeked ones included). */
export async function decompressPeeked(input: Readable, source: string, opts: DecodeOptions = {}): Promise<Decompressed> {
  try {
    const compression = detectCompression(await peek(input, MAGIC_PEEK_SIZE));
    return { compression, stream: await decompressStream(input, compression, source, opts) };
  } catch (err) {
    input.destroy();
    throw err;
  }
}
