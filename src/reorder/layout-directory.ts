/**
 * An OCI layout directory as the tar a loader wants: `index.json` and
 * `oci-layout` (and a `manifest.json` or `repositories` beside them) first,
 * then every other file and directory in sorted path order, each file's
 * bytes as they are on disk. This is what `tar -C DIR -cf x.tar .` should
 * have written: its `./`-prefixed entries in readdir order put index.json
 * wherever the file system listed it.
 *
 * Symlinks are written as the file they point to, and only while they stay
 * inside the directory (the rule the layout source reads by): a hostile
 * layout must not pull /etc/shadow into an archive.
 */
import { realpath, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { AirpackError } from '../errors.js';
import { archiveMtime, encodeHeader, END_OF_ARCHIVE, padding } from '../archive/tar-header.js';
import { tarPartStream, type TarPart } from '../archive/image-archive.js';
import { ArchiveEntry, METADATA_ENTRIES } from '../spec/media-types.js';

interface Member {
  name: string;
  /** Absolute path of the file (symlinks resolved); none for a directory. */
  file?: string;
  size: number;
}

async function members(root: string): Promise<Member[]> {
  const out: Member[] = [];
  // Real directories entered so far: a symlink back to one of them is a loop, not more files.
  const entered = new Set<string>([root]);
  const visit = async (rel: string): Promise<void> => {
    for (const name of (await readdir(path.join(root, rel))).sort()) {
      const child = rel ? `${rel}/${name}` : name;
      const real = await realpath(path.join(root, child));
      if (real !== root && !real.startsWith(`${root}${path.sep}`)) {
        throw new AirpackError('ARCHIVE_INVALID', `${path.join(root, child)}: a symlink out of the layout directory (to ${real}); expected files inside it`);
      }
      const info = await stat(real);
      if (info.isDirectory()) {
        if (entered.has(real)) throw new AirpackError('ARCHIVE_INVALID', `${path.join(root, child)}: a second way into ${real} (a symlink loop or a link to a directory already read); expected each directory once`);
        entered.add(real);
        out.push({ name: `${child}/`, size: 0 });
        await visit(child);
      } else if (info.isFile()) {
        out.push({ name: child, file: real, size: info.size });
      } else {
        throw new AirpackError('ARCHIVE_INVALID', `${path.join(root, child)}: neither a file nor a directory; expected an OCI layout's files`);
      }
    }
  };
  await visit('');
  return out;
}

/** The directory's tar as parts (headers, file ranges, the end marker), metadata first. */
export async function layoutDirectoryParts(dir: string): Promise<TarPart[]> {
  const root = await realpath(dir);
  const all = await members(root);
  if (!all.some((m) => m.name === ArchiveEntry.ociIndex || m.name === ArchiveEntry.dockerManifest)) {
    throw new AirpackError('ARCHIVE_INVALID', `${dir}: expected an OCI layout directory (index.json and oci-layout), found no index.json`);
  }
  const rank = (m: Member): number => {
    const i = m.file ? METADATA_ENTRIES.indexOf(m.name) : -1;
    return i < 0 ? METADATA_ENTRIES.length : i;
  };
  // Stable: metadata in METADATA_ENTRIES order, the rest in path order.
  const ordered = all.map((m, i) => ({ m, i })).sort((a, b) => rank(a.m) - rank(b.m) || a.i - b.i).map((x) => x.m);
  const mtime = archiveMtime();
  const parts: TarPart[] = [];
  for (const m of ordered) {
    let header: Buffer;
    try {
      header = encodeHeader({ name: m.name, size: m.size, type: m.file ? 'file' : 'directory', mtime });
    } catch (err) {
      throw new AirpackError('ARCHIVE_INVALID', `${path.join(dir, m.name)}: ${(err as Error).message}`);
    }
    parts.push(header);
    if (m.file && m.size > 0) parts.push({ path: m.file, size: m.size }, padding(m.size));
  }
  parts.push(END_OF_ARCHIVE);
  return parts;
}

/** The directory's tar as a byte stream. */
export async function layoutDirectoryTar(dir: string): Promise<Readable> {
  return Readable.from(tarPartStream(await layoutDirectoryParts(dir)));
}
