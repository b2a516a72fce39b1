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
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { scratchDirectory } from '../io/cleanup.js';
import { AirpackError, toAirpackError } from '../errors.js';

/**
 * Where a replaced file of an earlier release waits until the commit is done
 * (inside the staging directory, so it goes with it): no artifact name has it.
 */
const REPLACED = '.airpack-replaced';

/** A hidden directory inside one output directory, mirroring its layout until committed. */
class Staging {
  private removed = false;

  constructor(
    readonly dir: string,
    readonly root: string,
    private readonly forget: () => void,
  ) {}

  holds(stagedPath: string): boolean {
    return stagedPath.startsWith(this.root + path.sep);
  }

  final(stagedPath: string): string {
    return path.join(this.dir, path.relative(this.root, stagedPath));
  }

  replacedPath(stagedPath: string): string {
    return path.join(this.root, REPLACED, path.relative(this.root, stagedPath));
  }

  async discard(): Promise<void> {
    if (this.removed) return;
    this.removed = true;
    await rm(this.root, { recursive: true, force: true });
    this.forget();
  }
}

export class StagingArea {
  private readonly stagings = new Map<string, Staging>();

  /** The staging directory for `outputDir` (made, with `outputDir`, on first use). */
  async at(outputDir: string): Promise<{ path(name: string): string }> {
    let staging = this.stagings.get(outputDir);
    if (!staging) {
      await mkdir(outputDir, { recursive: true });
      // Ctrl-C leaves no staging directory behind (and nothing half moved: renames are atomic).
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
   * needed), all or none: a file an earlier release left there is set aside
   * first, and a move that fails (a file that may not be replaced) takes back
   * every one before it and puts the earlier files back. The staging
   * directories go either way.
   */
  async commit(files: readonly string[]): Promise<void> {
    const moved: Array<{ to: string; replaced?: string }> = [];
    let current: string | undefined;
    try {
      for (const file of files) {
        const staging = this.owner(file);
        const to = staging.final(file);
        current = to;
        await mkdir(path.dirname(to), { recursive: true });
        let replaced: string | undefined;
        if (existsSync(to)) {
          replaced = staging.replacedPath(file);
          await mkdir(path.dirname(replaced), { recursive: true });
          await rename(to, replaced);
        }
        try {
          await rename(file, to);
        } catch (err) {
          if (replaced) await rename(replaced, to);
          throw err;
        }
        moved.push(replaced ? { to, replaced } : { to });
      }
    } catch (err) {
      for (const m of moved.reverse()) {
        try {
          await rm(m.to, { force: true });
          if (m.replaced) await rename(m.replaced, m.to);
        } catch {
          /* the first error is the one to report; the rest are put back as far as they go */
        }
      }
      const e = toAirpackError(err, current);
      const undone = moved.length > 0 ? `; the ${moved.length} file(s) moved before it were taken back` : '';
      throw e instanceof AirpackError ? new AirpackError(e.code, `${e.message} [the release set was not put in place${undone}]`, { cause: err }) : e;
    } finally {
      await this.discard();
    }
  }

  async discard(): Promise<void> {
    for (const staging of this.stagings.values()) await staging.discard();
  }
}
