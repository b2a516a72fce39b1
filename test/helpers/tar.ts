/** Reading tar files in tests, independently of airpack's own reader. */
import { createReadStream } from 'node:fs';
import tar from 'tar-stream';

export interface TarEntry {
  name: string;
  type: string;
  data: Buffer;
}

/** Every entry of a (plain) tar, in order, with its bytes. */
export async function readTar(path: string): Promise<TarEntry[]> {
  const entries: TarEntry[] = [];
  const extract = tar.extract();
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        entries.push({ name: header.name, type: header.type ?? 'file', data: Buffer.concat(chunks) });
        next();
      });
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  createReadStream(path).pipe(extract);
  await done;
  return entries;
}

export function entryJson<T>(entries: readonly TarEntry[], name: string): T {
  const entry = entries.find((e) => e.name === name);
  if (!entry) throw new Error(`no entry ${name} in archive (have ${entries.map((e) => e.name).join(', ')})`);
  return JSON.parse(entry.data.toString('utf8')) as T;
}

export function blobEntry(entries: readonly TarEntry[], digest: string): Buffer | undefined {
  return entries.find((e) => e.name === `blobs/sha256/${digest.slice(7)}`)?.data;
}
