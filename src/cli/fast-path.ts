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
import { PROGRESS_MODES, type ProgressMode } from './output.js';

type FastCommand = 'find' | 'ls' | 'verify' | 'extract' | 'reorder';

interface Plain {
  command: FastCommand;
  args: Record<string, unknown>;
}

interface Spec {
  /** Boolean flags, by spelling, and the argument each sets. */
  flags: Readonly<Record<string, string>>;
  /** Options that take a value (`-o X`, `--output X`, `--output=X`), by spelling. */
  values?: Readonly<Record<string, string>>;
  /** Value options that must be given. */
  required?: readonly string[];
  /** Positional names; the last one ending in `..` takes the rest (one at least). */
  positionals: readonly string[];
}

const OUTPUT_FLAGS = { '--json': 'json', '--quiet': 'quiet', '-q': 'quiet' };
const PROGRESS = { '--progress': 'progress' };

const SPECS: Record<FastCommand, Spec> = {
  find: { flags: { ...OUTPUT_FLAGS, '--first': 'first' }, positionals: ['ref', 'paths..'] },
  ls: { flags: OUTPUT_FLAGS, positionals: ['bundles..'] },
  verify: { flags: OUTPUT_FLAGS, values: PROGRESS, positionals: ['bundles..'] },
  extract: {
    flags: OUTPUT_FLAGS,
    values: { ...PROGRESS, '-o': 'output', '--output': 'output', '-p': 'platform', '--platform': 'platform' },
    required: ['output'],
    positionals: ['bundle', 'ref'],
  },
  // A file in, a file out: the copy is a few tenths of a second, and yargs cost as much (issue 12).
  reorder: { flags: OUTPUT_FLAGS, values: { '-o': 'output', '--output': 'output' }, required: ['output'], positionals: ['input'] },
};

/** The parsed arguments of a plain `find`/`ls`/`verify`/`extract`/`reorder` line, or undefined for the full parser. */
export function plainCommand(argv: readonly string[]): Plain | undefined {
  const [command, ...rest] = argv;
  if (command === undefined || !Object.hasOwn(SPECS, command)) return undefined;
  const spec = SPECS[command as FastCommand];
  const positionals: string[] = [];
  const args: Record<string, unknown> = { json: false, quiet: false, progress: 'auto' as ProgressMode };
  if (command === 'find') args.first = false;
  const given = new Set<string>();
  let onlyPositionals = false;
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i]!;
    if (onlyPositionals || !a.startsWith('-') || a === '-') {
      positionals.push(a);
      continue;
    }
    if (a === '--') {
      onlyPositionals = true;
      continue;
    }
    const flag = spec.flags[a];
    if (flag !== undefined) {
      args[flag] = true;
      continue;
    }
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const name = spec.values?.[eq > 0 ? a.slice(0, eq) : a];
    const value = eq > 0 ? a.slice(eq + 1) : rest[++i];
    if (name === undefined || value === undefined || value === '' || value.startsWith('-') || given.has(name)) return undefined;
    if (name === 'progress' && !PROGRESS_MODES.includes(value as ProgressMode)) return undefined;
    given.add(name);
    args[name] = value;
  }
  if (spec.required?.some((r) => !given.has(r))) return undefined;
  const fixed = spec.positionals.filter((p) => !p.endsWith('..'));
  const variadic = spec.positionals.find((p) => p.endsWith('..'));
  if (variadic ? positionals.length < fixed.length + 1 : positionals.length !== fixed.length) return undefined;
  fixed.forEach((p, i) => (args[p] = positionals[i]));
  if (variadic) args[variadic.slice(0, -2)] = positionals.slice(fixed.length);
  return { command: command as FastCommand, args };
}
