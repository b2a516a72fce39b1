/**
 * The commands whose start-up is a visible share of their run (`find`,
 * `ls`: scripts run them in a loop; `verify`, `extract`: measured against
 * `zstd -dc | openssl dgst`; `reorder`: against bsdtar, which copies 336 MB
 * in 0.3 s, while yargs took 0.13-0.2 s of airpack's 0.37-0.45 s), parsed without yargs when their command line
 * is plain. Loading yargs costs about as much as starting node (measured:
 * `node -e 0` 0.05 s, importing yargs 0.12 s), and on every run yargs
 * renders the help text of the command it runs, through cliui and
 * string-width (30 ms in a CPU profile), and main.ts parses twice (check,
 * then run). Measured on `verify` of a 3 MB bundle, 11 alternating rounds:
 * 0.27 s through yargs, 0.16 s through this parser, against `node -e 0` at
 * 0.07 s (issue 12). Anything else (help, version, an option these do not
 * take, a missing argument or option, an option given twice, a value that
 * looks like an option) goes to the full parser, which has the messages.
 */
import { LAYER_MODES } from '../sink/image-sink.js';
import { PROGRESS_MODES, type ProgressMode } from './output.js';

type FastCommand = 'find' | 'ls' | 'verify' | 'extract' | 'reorder' | 'pull';

interface Plain {
  command: FastCommand;
  args: Record<string, unknown>;
}

interface Spec {
  /** Boolean flags, by spelling, and the argument each sets. */
  flags: Readonly<Record<string, string>>;
  /** Options that take a value (`-o X`, `--output X`, `--output=X`), by spelling. */
  values?: Readonly<Record<string, string>>;
  /** Value options that may be given more than once, collected in order (`-p A -p B`), by spelling. */
  lists?: Readonly<Record<string, string>>;
  /** The values an option takes, where it has a fixed set (--progress always has). */
  choices?: Readonly<Record<string, readonly string[]>>;
  /** Values of options not given. */
  defaults?: Readonly<Record<string, unknown>>;
  /** Value options that must be given. */
  required?: readonly string[];
  /** Positional names; the last one ending in `..` takes the rest (one at least). */
  positionals: readonly string[];
}

const OUTPUT_FLAGS = { '--json': 'json', '--quiet': 'quiet', '-q': 'quiet' };
const PROGRESS = { '--progress': 'progress' };
const OUTPUT = { '-o': 'output', '--output': 'output' };

const SPECS: Record<FastCommand, Spec> = {
  find: { flags: { ...OUTPUT_FLAGS, '--first': 'first' }, positionals: ['ref', 'paths..'] },
  ls: { flags: OUTPUT_FLAGS, positionals: ['bundles..'] },
  verify: { flags: OUTPUT_FLAGS, values: PROGRESS, positionals: ['bundles..'] },
  extract: {
    flags: OUTPUT_FLAGS,
    values: { ...PROGRESS, ...OUTPUT, '-p': 'platform', '--platform': 'platform' },
    required: ['output'],
    positionals: ['bundle', 'ref'],
  },
  // A file in, a file out: the copy is a few tenths of a second, and yargs cost as much (issue 12).
  reorder: { flags: OUTPUT_FLAGS, values: OUTPUT, required: ['output'], positionals: ['input'] },
  // Two pulls (one per architecture) of 480 MiB took 2.2 s, 0.3 s of it in yargs and loading every command (issue 12).
  // The options of a release pipeline's line; --images, --concurrency, --ca-file take the full parser.
  pull: {
    flags: { ...OUTPUT_FLAGS, '--skip-missing': 'skip-missing' },
    values: { ...PROGRESS, ...OUTPUT, '--layers': 'layers', '--cache-dir': 'cache-dir' },
    lists: { '-p': 'platform', '--platform': 'platform', '--insecure': 'insecure' },
    choices: { layers: LAYER_MODES },
    defaults: { platform: ['linux/amd64'], layers: 'original' },
    required: ['output'],
    positionals: ['refs..'],
  },
};

/** The parsed arguments of a plain `find`/`ls`/`verify`/`extract`/`reorder`/`pull` line, or undefined for the full parser. */
export function plainCommand(argv: readonly string[]): Plain | undefined {
  const [command, ...rest] = argv;
  if (command === undefined || !Object.hasOwn(SPECS, command)) return undefined;
  const spec = SPECS[command as FastCommand];
  const positionals: string[] = [];
  const args: Record<string, unknown> = { json: false, quiet: false, progress: 'auto' as ProgressMode };
  if (command === 'find') args.first = false;
  const lists: Record<string, string[]> = {};
  const given = new Set<string>();
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    // yargs puts what follows `--` aside (not into the positionals), and drops a lone `-` from a list of them: its parser decides.
    if (a === '--') return undefined;
    if (!a.startsWith('-') || a === '-') {
      positionals.push(a);
      continue;
    }
    const flag = spec.flags[a];
    if (flag !== undefined) {
      // `--skip-missing false`: yargs takes the word as the flag's value.
      if (rest[i + 1] === 'true' || rest[i + 1] === 'false') return undefined;
      args[flag] = true;
      continue;
    }
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const spelling = eq > 0 ? a.slice(0, eq) : a;
    const list = spec.lists?.[spelling];
    const name = list ?? spec.values?.[spelling];
    const value = eq > 0 ? a.slice(eq + 1) : rest[++i];
    if (name === undefined || value === undefined || value === '' || value.startsWith('-') || (!list && given.has(name))) return undefined;
    const choices = name === 'progress' ? PROGRESS_MODES : spec.choices?.[name];
    if (choices && !choices.includes(value)) return undefined;
    given.add(name);
    if (list) (lists[name] ??= []).push(value);
    else args[name] = value;
    // yargs takes every word after a repeatable option into its list (`-p linux/amd64 busybox:1` is two platforms): its parser decides.
    if (list && rest[i + 1] !== undefined && !rest[i + 1]!.startsWith('-')) return undefined;
  }
  if (spec.required?.some((r) => !given.has(r))) return undefined;
  // A copy of each default: a handler that changed one would change it for the next line parsed in this process.
  for (const [name, value] of Object.entries(spec.defaults ?? {})) if (!given.has(name)) args[name] = Array.isArray(value) ? [...value] : value;
  Object.assign(args, lists);
  const fixed = spec.positionals.filter((p) => !p.endsWith('..'));
  const variadic = spec.positionals.find((p) => p.endsWith('..'));
  if (variadic ? positionals.length < fixed.length + 1 : positionals.length !== fixed.length) return undefined;
  fixed.forEach((p, i) => (args[p] = positionals[i]));
  if (variadic) {
    const listed = positionals.slice(fixed.length);
    if (listed.includes('-')) return undefined;
    args[variadic.slice(0, -2)] = listed;
  }
  return { command: command as FastCommand, args };
}
