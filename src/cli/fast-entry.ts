/**
 * The commands whose start-up is a visible share of their run, as one
 * bundle: scripts/build-fast-cli.mjs bundles this module and everything it
 * imports into dist/cli/fast/, and bin/airpack.js runs a plain find, ls,
 * verify, extract, reorder or pull line (cli/fast-path.ts) from there when that bundle is
 * newer than this module's own build output (a bundle left from an older
 * build is never run). Anything else goes to cli/main.ts. find and ls are
 * in the entry itself; the others load their own parts on demand.
 *
 * Why: start-up is most of a find. Loading the find path as ES modules costs
 * per module, not per byte: 31 modules took 33-41 ms to import, the same
 * code as one file 16-22 ms (in-process medians of 15 runs on the loaded
 * 2-core machine; node -e 0 itself 0.05-0.09 s). Measured end to end, 31
 * alternating rounds: node -e 0 64 ms, find through the modules 110 ms
 * (1.71x), through the bundle 87 ms (1.35x). verify's and extract's modules
 * took 38 ms to import, 14 ms bundled (11 runs).
 */
import { handler as find } from './find.js';
import { handler as ls } from './ls.js';
import { plainCommand } from './fast-path.js';
import { quietOnClosedPipe, runPlain, stopOnSignals } from './process.js';

export { stopOnUncaughtErrors } from './process.js';

type Handler = (args: Record<string, unknown>) => Promise<void>;

/** Runs a plain find/ls/verify/extract/reorder/pull line and gives its exit code; undefined (having done nothing) for any other line. */
export async function fastMain(argv: string[] = process.argv.slice(2)): Promise<number | undefined> {
  const plain = plainCommand(argv);
  if (!plain) return undefined;
  quietOnClosedPipe(process.stdout);
  stopOnSignals();
  const onDemand = { verify: () => import('./verify.js'), extract: () => import('./extract.js'), reorder: () => import('./reorder.js'), pull: () => import('./pull.js') };
  const handler = plain.command === 'find' ? find : plain.command === 'ls' ? ls : (await onDemand[plain.command]()).handler;
  return runPlain(handler as unknown as Handler, plain.args);
}
