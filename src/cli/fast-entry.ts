/**
 * `airpack find` and `airpack ls` in one file: scripts/build-fast-cli.mjs
 * bundles this module and everything it imports into dist/cli/fast.bundle.js,
 * and bin/airpack.js runs a plain find/ls line (cli/fast-path.ts) from there
 * when that file is newer than this module's own build output (a bundle
 * left from an older build is never run). Anything else goes to cli/main.ts.
 *
 * Why: start-up is most of a find. Loading the find path as ES modules costs
 * per module, not per byte: 31 modules took 33-41 ms to import, the same
 * code as one file 16-22 ms (in-process medians of 15 runs on the loaded
 * 2-core machine; node -e 0 itself 0.05-0.09 s). Measured end to end, 21
 * alternating rounds in a quiet moment: node -e 0 0.060 s, find through the
 * modules 0.100 s (1.67x), through the bundle 0.080 s (1.33x).
 */
import { handler as find } from './find.js';
import { handler as ls } from './ls.js';
import { plainCommand } from './fast-path.js';
import { quietOnClosedPipe, runPlain, stopOnSignals } from './process.js';

export { stopOnUncaughtErrors } from './process.js';

/** Runs a plain find/ls line and gives its exit code; undefined (having done nothing) for any other line. */
export async function fastMain(argv: string[] = process.argv.slice(2)): Promise<number | undefined> {
  const plain = plainCommand(argv);
  if (plain?.command !== 'find' && plain?.command !== 'ls') return undefined;
  quietOnClosedPipe(process.stdout);
  stopOnSignals();
  const handler = (plain.command === 'find' ? find : ls) as unknown as (args: Record<string, unknown>) => Promise<void>;
  return runPlain(handler, plain.args);
}
