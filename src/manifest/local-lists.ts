/**
 * Manifest lists being built, kept on disk between `manifest create`,
 * `annotate` and `push`, as `docker manifest` keeps them in
 * ~/.docker/manifests: velero's Makefile runs the three as separate steps.
 *
 * One JSON file per target list, in `$AIRPACK_MANIFEST_DIR`, else
 * `$XDG_CONFIG_HOME/airpack/manifests`, else `~/.config/airpack/manifests`.
 * Each is written to a temp file and renamed, so a list is whole or absent.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AirpackError, fileErrorText } from '../errors.js';
import type { Platform } from '../platform/platform.js';

/** One child of a list: a per-platform image already in the registry. */
export interface ListEntry {
  /** The image as named on the command line, fully qualified (`host/repo:tag`). */
  source: string;
  mediaType: string;
  digest: string;
  size: number;
  platform: Platform;
}

export interface LocalList {
  /** `host/repo:tag` the list will be pushed as. */
  target: string;
  entries: ListEntry[];
}

export function localListDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.AIRPACK_MANIFEST_DIR) return env.AIRPACK_MANIFEST_DIR;
  const config = env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
  return path.join(config, 'airpack', 'manifests');
}

/** A file name per target: the reference, with what a file name cannot hold escaped. */
function fileFor(dir: string, target: string): string {
  return path.join(dir, `${encodeURIComponent(target)}.json`);
}

export class LocalLists {
  constructor(readonly dir: string = localListDir()) {}

  async load(target: string): Promise<LocalList | undefined> {
    const file = fileFor(this.dir, target);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new AirpackError('IO_ERROR', `${file}: cannot read it: ${fileErrorText(err as NodeJS.ErrnoException)}`, { cause: err });
    }
    try {
      const list = JSON.parse(text) as LocalList;
      if (list.target !== target || !Array.isArray(list.entries)) throw new Error('not a list of entries for this target');
      return list;
    } catch (err) {
      throw new AirpackError('INVALID_ARGUMENT', `${file}: not a manifest list airpack wrote (${(err as Error).message}) [remove it with: airpack manifest rm ${target}]`, { cause: err });
    }
  }

  async save(list: LocalList): Promise<string> {
    await mkdir(this.dir, { recursive: true });
    const file = fileFor(this.dir, list.target);
    const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await writeFile(tmp, `${JSON.stringify(list, null, 2)}\n`);
      await rename(tmp, file);
    } catch (err) {
      await rm(tmp, { force: true });
      throw new AirpackError('IO_ERROR', `${file}: cannot write (${(err as NodeJS.ErrnoException).code})`, { cause: err });
    }
    return file;
  }

  /** Removes the list; false when there was none. */
  async remove(target: string): Promise<boolean> {
    const file = fileFor(this.dir, target);
    try {
      await rm(file);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw new AirpackError('IO_ERROR', `${file}: cannot remove (${(err as NodeJS.ErrnoException).code})`, { cause: err });
    }
  }
}
