/**
 * Staging for release sets: every file of a set (artifacts, image lists,
 * checksum files) is written into a hidden directory inside its output
 * directory (same file system, so the move into place is a rename per file)
 * and moved into place only when the whole set is built: all of it, or none.
 *
 * One area serves a whole `--release` (its bundles may name several output
 * directories): the checksum files, which cover artifacts of every bundle,
 * are staged beside them and committed in the same move.
 */
import { constants, lstatSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { copyFile, link, mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { onInterrupt, scratchDirectory } from '../io/cleanup.js';
import { AirpackError, fileErrorText, isFileError, toAirpackError } from '../errors.js';

/**
 * Where the earlier file at a path is kept (a hard link to it) while the
 * commit is under way, inside the staging directory: no artifact name has it.
 */
const REPLACED = '.airpack-replaced';

/** Whether something (a file, a dangling link) is at `p`. */
const present = (p: string): boolean => lstatSync(p, { throwIfNoEntry: false }) !== undefined;

/** One staged file on its way: `replaced` holds the earlier file at `to`, if there was one. */
interface Move {
  file: string;
  to: string;
  replaced?: string;
  /** Whether `replaced` is complete (a copy is written a while). */
  kept?: boolean;
  staging: Staging;
}

/** A hidden directory inside one output directory, mirroring its layout until committed. */
class Staging {
  private removed = false;

  constructor(
    readonly dir: string,
    readonly root: string,
    /** Unregisters the removal of `root` on interruption. */
    readonly forget: () => void,
  ) {}

  holds(stagedPath: string): boolean {
    return stagedPath.startsWith(this.root + path.sep);
  }

  final(stagedPath: string): string {
    return path.join(this.dir, path.relative(this.root, stagedPath));
  }

  get replacedDir(): string {
    return path.join(this.root, REPLACED);
  }

  replacedPath(stagedPath: string): string {
    return path.join(this.replacedDir, path.relative(this.root, stagedPath));
  }

  /** Removes the staging directory; with `keepReplaced`, all of it but the earlier files that could not be put back. */
  removeSync(keepReplaced: boolean): void {
    if (!keepReplaced) {
      rmSync(this.root, { recursive: true, force: true });
      return;
    }
    for (const name of readdirSync(this.root)) if (name !== REPLACED) rmSync(path.join(this.root, name), { recursive: true, force: true });
  }

  async discard(keepReplaced = false): Promise<void> {
    if (this.removed) return;
    this.removed = true;
    this.forget();
    if (keepReplaced) this.removeSync(true);
    else await rm(this.root, { recursive: true, force: true });
  }
}

/** A path whose earlier file could not be put back, and why. */
interface NotBack {
  to: string;
  why: string;
  staging: Staging;
}

export class StagingArea {
  private readonly stagings = new Map<string, Staging>();
  /** While files are being moved: 'moving'; once an interruption has taken them back: 'stopped'. */
  private phase: 'staging' | 'moving' | 'stopped' = 'staging';

  private interrupted(): boolean {
    return this.phase === 'stopped';
  }

  /** The staging directory for `outputDir` (made, with `outputDir`, on first use). */
  async at(outputDir: string): Promise<{ path(name: string): string }> {
    let staging = this.stagings.get(outputDir);
    if (!staging) {
      await mkdir(outputDir, { recursive: true });
      // Ctrl-C before the commit leaves no staging directory behind (during the commit, see `commit`).
      const root = scratchDirectory(path.join(outputDir, '.airpack-staging-'));
      staging = new Staging(outputDir, root.path, root.forget);
      this.stagings.set(outputDir, staging);
    }
    const root = staging.root;
    return { path: (name) => path.join(root, name) };
  }

  /** Where a staged file goes. */
  final(stagedPath: string): string {
    return this.owner(stagedPath).final(stagedPath);
  }

  private owner(stagedPath: string): Staging {
    const staging = [...this.stagings.values()].find((s) => s.holds(stagedPath));
    // A bug, not a user's fault: exit 70 with its stack.
    if (!staging) throw new Error(`${stagedPath} is not a staged file`);
    return staging;
  }

  /**
   * The staged files to their places, in this order (directories made as
   * needed), all or none. A file an earlier release left at a place is kept
   * first (a hard link in the staging directory's `.airpack-replaced`, a copy
   * where the file system has no hard links), then the staged file is renamed
   * over it: at every moment the path holds the earlier file or the new one,
   * never nothing (also for a plain `bundle -o` over an existing file). A move
   * that fails (a file that may not be replaced) takes back every one before
   * it: the kept file renamed back over the new one, a new file where there
   * was none removed. Ctrl-C or SIGTERM during the moves does the same,
   * synchronously, before the process exits. A file that cannot be put back
   * stays in `.airpack-replaced` and the error names it. The staging
   * directories go either way.
   */
  async commit(files: readonly string[]): Promise<void> {
    const moved: Move[] = [];
    let pending: Move | undefined;
    let notBack: NotBack[] = [];
    // From here an interruption takes the moved files back instead of removing the staging
    // directories with the earlier files kept in them. Unregistered and registered in one tick.
    for (const staging of this.stagings.values()) staging.forget();
    this.phase = 'moving';
    const stopped = onInterrupt(() => {
      if (this.phase === 'moving') {
        this.phase = 'stopped';
        notBack = this.takeBack(moved, pending);
        if (notBack.length > 0) writeSync(2, `airpack: ${this.notBackText(notBack)}\n`);
      }
      // Run twice by the CLI (io/cleanup.ts): the second time, what landed in between goes too.
      for (const staging of this.stagings.values()) {
        try {
          staging.removeSync(notBack.length > 0);
        } catch {
          /* the others still go */
        }
      }
    });
    /** Stops before the next step once an interruption has taken the files back. */
    const step = (): void => {
      if (this.interrupted()) throw new Error('interrupted while the files were moved into place');
    };
    let current: string | undefined;
    try {
      for (const file of files) {
        const staging = this.owner(file);
        const to = staging.final(file);
        current = to;
        step();
        await mkdir(path.dirname(to), { recursive: true });
        step();
        if (present(to)) {
          const replaced = staging.replacedPath(file);
          pending = { file, to, replaced, staging };
          await mkdir(path.dirname(replaced), { recursive: true });
          step();
          await keep(to, replaced);
          pending.kept = true;
        } else {
          pending = { file, to, staging };
        }
        step();
        await rename(file, to);
        moved.push(pending);
        pending = undefined;
      }
      this.phase = 'staging';
    } catch (err) {
      if (this.interrupted()) throw err;
      this.phase = 'staging';
      // The failed step moved nothing: its path still holds what it held.
      if (pending?.replaced) rmSync(pending.replaced, { force: true });
      notBack = this.takeBack(moved, undefined);
      const e = toAirpackError(err, current);
      const undone =
        moved.length === 0
          ? ''
          : notBack.length === 0
            ? `; the ${moved.length} file(s) moved before it were taken back`
            : `; of the ${moved.length} file(s) moved before it, ${moved.length - notBack.length} were taken back; ${this.notBackText(notBack)}`;
      throw e instanceof AirpackError ? new AirpackError(e.code, `${e.message} [the release set was not put in place${undone}]`, { cause: err }) : e;
    } finally {
      // Still registered meanwhile: Ctrl-C now removes the staging directories (keeping what must be kept).
      await this.discard(notBack);
      stopped();
    }
  }

  /**
   * Puts back what `moved` (and `pending`, a move an interruption may have caught half done) changed,
   * last first, synchronously: a kept earlier file renamed back over the new one, a new file where
   * there was none removed. Returns the paths whose earlier file could not be put back (it stays kept).
   */
  private takeBack(moved: readonly Move[], pending: Move | undefined): NotBack[] {
    const notBack: NotBack[] = [];
    const undo = (m: Move, mayHaveLanded: boolean): void => {
      try {
        // A rename still on the thread pool then finds nothing to move.
        if (mayHaveLanded) rmSync(m.file, { force: true });
        if (m.replaced) {
          // One rename: the path holds the new file, then the earlier one. (A kept link of a
          // file still in place is the same file: the rename then changes nothing.) Not kept
          // yet: the rename over it was not asked for, the path still holds the earlier file.
          if (m.kept) renameSync(m.replaced, m.to);
        } else {
          rmSync(m.to, { force: true });
        }
      } catch (err) {
        notBack.push({ to: m.to, why: isFileError(err) ? fileErrorText(err) : String(err), staging: m.staging });
      }
    };
    if (pending) undo(pending, true);
    for (const m of [...moved].reverse()) undo(m, false);
    return notBack;
  }

  private notBackText(notBack: readonly NotBack[]): string {
    const kept = [...new Set(notBack.map((n) => n.staging.replacedDir))];
    return `${notBack.length} could not be put back (${notBack.map((n) => `${n.to}: ${n.why}`).join('; ')}); the earlier files are kept in ${kept.join(', ')}`;
  }

  /** Removes the staging directories; those holding an earlier file that could not be put back keep it. */
  async discard(notBack: readonly NotBack[] = []): Promise<void> {
    const keep = new Set(notBack.map((n) => n.staging));
    for (const staging of this.stagings.values()) await staging.discard(keep.has(staging));
  }
}

/**
 * Keeps the file at `to` as `replaced`: a hard link (no copy, same file), or a copy where the file
 * system has none (a clone where it can).
 */
async function keep(to: string, replaced: string): Promise<void> {
  try {
    await link(to, replaced);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // EPERM: also an immutable file; its copy is kept and the rename over it then fails as it should.
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EMLINK' && code !== 'ENOSYS' && code !== 'EXDEV') throw err;
    await copyFile(to, replaced, constants.COPYFILE_FICLONE);
  }
}
