/** `ls`: the images of one or more archives with names, digests, platforms and sizes. */
import { stat } from 'node:fs/promises';
import { describeArchiveImages, type ArchiveImage } from '../image/describe.js';
import { openArchive } from './open.js';

export interface ArchiveListing {
  path: string;
  compression: string;
  /** True for a zstd bundle with a seek table. */
  seekTable: boolean;
  /** An OCI layout directory rather than a file. */
  directory: boolean;
  /** Size of the file on disk (0 for a directory). */
  fileSize: number;
  images: ArchiveImage[];
}

/** Lists the images of each archive, in the order given. */
export async function listArchive(paths: readonly string[]): Promise<ArchiveListing[]> {
  const out: ArchiveListing[] = [];
  for (const path of paths) {
    const meta = await openArchive(path, { depth: 'config' });
    const directory = meta.mode === 'directory';
    out.push({ path, compression: meta.compression, seekTable: meta.seekTable, directory, fileSize: directory ? 0 : (await stat(path)).size, images: describeArchiveImages(meta) });
  }
  return out;
}
