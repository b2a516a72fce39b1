/**
 * What a run would leave behind if it were stopped now: temp files beside
 * outputs and scratch directories (the blob store of a run, decompressed
 * copies of archives). Each registers its removal while it exists; the CLI
 * runs them all when SIGINT or SIGTERM arrives, then exits (cli/main.ts),
 * so Ctrl-C leaves neither `.OUT.tar.<pid>.<hex>.tmp` nor GBs of blobs.
 * Removal is synchronous: it must finish before the process exits, whatever
 * else is still running.
 */
import { mkdtempSync, rmSync } from 'node:fs';

const pending = new Map<number, () => void>();
let nextId = 0;

/** Registers `remove` to run on interruption; call the returned function once the thing is gone or kept. */
export function onInterrupt(remove: () => void): () => void {
  const id = nextId++;
  pending.set(id, remove);
  return () => {
    pending.delete(id);
  };
}

/** Removes `path` (file or directory) on interruption. */
export function removeOnInterrupt(path: string): () => void {
  return onInterrupt(() => rmSync(path, { recursive: true, force: true }));
}

/**
 * Creates a directory named `prefix` + random suffix and registers its
 * removal in the same tick. Synchronous on purpose: with an async mkdtemp a
 * signal handled between the directory's creation and the callback that
 * registers it would leave the directory behind (seen in CI).
 */
export function scratchDirectory(prefix: string): { path: string; forget: () => void } {
  const path = mkdtempSync(prefix);
  return { path, forget: removeOnInterrupt(path) };
}

/**
 * Runs every registered removal; errors are ignored: the rest must still
 * run. Removals stay registered: the CLI runs them a second time a moment
 * later, because a file-system call already on the thread pool (a mkdir of
 * the blob store's `sha256/`, a temp file's open) can land after the first
 * removal and bring the directory back (seen in CI).
 */
export function runInterruptCleanups(): void {
  for (const remove of [...pending.values()]) {
    try {
      remove();
    } catch {
      /* best effort: the others still run */
    }
  }
}
