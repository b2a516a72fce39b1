/**
 * `find`: which archive under some paths holds an image. Directories are
 * walked in sorted order (stable output, first match deterministic); each
 * archive is opened with the shallow metadata read, so an airpack bundle
 * answers from its first frame.
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { AirpackError, exitCodeFor, toAirpackError } from '../errors.js';
import { parseReference } from '../ref/reference.js';
import { describeArchiveImages, imageMatches } from '../image/describe.js';
import { NotAnImageArchive, openArchive } from './open.js';

export interface FindOptions {
  /** Stop at the first file that holds the image. Default false. */
  first?: boolean;
  /** Called for files that are not readable archives (default: ignore them). */
  onSkip?: (path: string, err: AirpackError) => void;
}

export interface FindMatch {
  path: string;
  /** The name in the archive that matched, when the match was by name. */
  name?: string;
  digest?: string;
  platforms: string[];
  compression: string;
  /** Entries read from the archive to answer. */
  entriesRead: number;
}

export interface FindResult {
  reference: string;
  found: boolean;
  matches: FindMatch[];
  /** Files looked at. */
  scanned: number;
  /** Files not read as image archives; `unreadable` when broken (truncated, corrupt, unreadable), not merely holding no images. */
  /** Files not searched: `unreadable` when they may hold images (damaged, or not readable: `exitCode` 4 or 5), not when they are no image archive. */
  skipped: { path: string; error: string; unreadable: boolean; exitCode: number }[];
}

const ARCHIVE_NAME = /\.(tar|tar\.gz|tgz|tar\.zst|tzst|tar\.bz2|tbz2?|tar\.lz4|tar\.xz|txz)$/i;

/** Archives under `paths`: files as given, directories recursively (names sorted), OCI layout directories as one archive each. */
export async function listCandidateFiles(paths: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  const visit = async (p: string, explicit: boolean): Promise<void> => {
    let st;
    try {
      st = await stat(p);
    } catch (err) {
      if (explicit) throw new AirpackError('IO_ERROR', `${p}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`, { cause: err });
      return;
    }
    if (st.isDirectory()) {
      const names = (await readdir(p)).sort();
      // An OCI layout directory is an archive, not a folder of archives.
      if (names.includes('oci-layout') || names.includes('index.json')) {
        out.push(p);
        return;
      }
      for (const n of names) await visit(join(p, n), false);
    } else if (st.isFile() && (explicit || ARCHIVE_NAME.test(p))) {
      out.push(p);
    }
  };
  for (const p of paths) await visit(p, true);
  return out;
}

/** Finds which files under `paths` hold `reference`. */
export async function findImage(reference: string, paths: readonly string[], opts: FindOptions = {}): Promise<FindResult> {
  const ref = parseReference(reference);
  if (paths.length === 0) throw new AirpackError('INVALID_ARGUMENT', 'find: name at least one file or directory');
  const files = await listCandidateFiles(paths);
  const result: FindResult = { reference, found: false, matches: [], scanned: 0, skipped: [] };
  for (const path of files) {
    result.scanned++;
    let meta;
    try {
      meta = await openArchive(path, { depth: 'index' });
    } catch (err) {
      const e = toAirpackError(err, path);
      // A bug is no unreadable file: let it surface.
      if (!(e instanceof AirpackError)) throw e;
      result.skipped.push({ path, error: e.message, unreadable: !(e instanceof NotAnImageArchive), exitCode: exitCodeFor(e) });
      opts.onSkip?.(path, e);
      continue;
    }
    for (const image of describeArchiveImages(meta)) {
      const m = imageMatches(image, ref);
      if (!m) continue;
      const match: FindMatch = {
        path,
        platforms: image.platforms.map((p) => p.platform).filter((p): p is string => p !== undefined),
        compression: meta.compression,
        entriesRead: meta.entriesRead,
      };
      if (m.name) match.name = m.name;
      if (image.digest) match.digest = image.digest;
      result.matches.push(match);
    }
    if (result.matches.length > 0 && opts.first) break;
  }
  result.found = result.matches.length > 0;
  return result;
}
