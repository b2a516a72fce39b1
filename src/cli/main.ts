/**
 * The airpack command line: one file per command, each calling one library
 * function. Errors print one line (`airpack: <message>`) and exit with the
 * documented code for their kind.
 */
import type { Argv } from 'yargs';
import { plainCommand } from './fast-path.js';
import { AirpackError, didYouMean, exitCodeFor, ExitCode } from '../errors.js';
import { PROGRESS_MODES, type ProgressMode } from './output.js';
import { quietOnClosedPipe, run, runPlain, stopOnSignals } from './process.js';

export { stopOnUncaughtErrors } from './process.js';

/**
 * Command modules, loaded on demand: a run loads only the command it names
 * (each pulls in its part of the library), so `airpack find` starts in a
 * fraction of the time. Top-level help and unknown commands load them all.
 */
const COMMANDS: Record<string, () => Promise<object>> = {
  pull: () => import('./pull.js'),
  find: () => import('./find.js'),
  ls: () => import('./ls.js'),
  verify: () => import('./verify.js'),
  extract: () => import('./extract.js'),
  reorder: () => import('./reorder.js'),
  bundle: () => import('./bundle.js'),
  serve: () => import('./serve.js'),
  push: () => import('./push.js'),
  manifest: () => import('./manifest.js'),
  version: () => import('./version.js'),
};

async function loadCommands(argv: readonly string[]): Promise<object[]> {
  const named = argv.find((a) => !a.startsWith('-'));
  const wanted = named !== undefined && named in COMMANDS ? [named] : Object.keys(COMMANDS);
  return Promise.all(wanted.map((name) => COMMANDS[name]!()));
}

/** The command line, with these command modules. */
function build(yargs: (args: string[]) => Argv, argv: readonly string[], commands: readonly object[], onUsageError: () => void) {
  let reported = false;
  return yargs([...argv])
    .scriptName('airpack')
    .usage('$0 <command> [options]\n\nPack container images for air-gapped installs.')
    .option('json', { type: 'boolean', default: false, global: true, describe: 'Print the result as JSON on stdout' })
    .option('quiet', { alias: 'q', type: 'boolean', default: false, global: true, describe: 'Print nothing but errors' })
    .option('progress', { choices: PROGRESS_MODES, default: 'auto' as ProgressMode, global: true, describe: 'auto: a live line when stderr is a terminal (CI unset), then a summary line; plain: a line every 10 s and the summary (CI logs); tty: the live line even with CI set; none' })
    .command(commands as never)
    .demandCommand(1, 'Name a command; see airpack --help')
    .strict()
    .recommendCommands()
    .epilogue(
      'Exit codes: 0 ok; 1 not found (find); 2 bad arguments, reference, platform or image list; 3 registry refused (unknown image or platform, unauthorized); 4 integrity (digest or size mismatch, malformed archive); 5 network or I/O failure; 70 internal error; 129/130/143 stopped by SIGHUP/SIGINT/SIGTERM.',
    )
    .help()
    .alias('help', 'h')
    .version()
    .wrap(Math.min(110, process.stdout.columns ?? 110))
    .fail((msg, err, y) => {
      if (err) throw err;
      // yargs may fail twice on one line ("Did you mean pull?", then "Unknown arguments: pul"): the first says it.
      // One line: what is wrong, and where the help is.
      if (!reported) process.stderr.write(`${y.help() && ''}airpack: ${usageMessage(msg, y, argv)} [airpack${argv[0] && argv[0] in COMMANDS ? ` ${argv[0]}` : ''} --help]\n`);
      reported = true;
      onUsageError();
    });
}

/** yargs' usage messages with the near miss named: `--cache-dri` -> `--cache-dir`, `pul` -> `pull`. */
function usageMessage(msg: string, usage: unknown, argv: readonly string[]): string {
  const suggested = /^Did you mean (\S+)\?$/.exec(msg);
  if (suggested) {
    // `manifest crate`: the unknown word is the subcommand, not the command before it.
    const words = argv.filter((a) => !a.startsWith('-'));
    const typed = words[0] !== undefined && words[0] in COMMANDS ? words[1] : words[0];
    return `unknown command "${typed ?? ''}" (did you mean "${suggested[1]}"?)`;
  }
  // yargs names an option by its long name only: say the flag a user types.
  const missing = /^Missing required argument: (.+)$/.exec(msg);
  if (missing) return `missing ${missing[1]!.split(', ').map((n) => (n === 'output' ? '-o OUTPUT' : `--${n}`)).join(', ')}`;
  // "Invalid values:\n  Argument: preset, Given: "rke3", Choices: "rke2", "velero"": one line per option.
  if (msg.startsWith('Invalid values:')) {
    const lines = [...msg.matchAll(/Argument: ([^,]+), Given: (.+?), Choices: (.+)/g)].map(([, name, given, choices]) => {
      const options = choices!.split(', ').map((c) => c.replace(/^"|"$/g, ''));
      return `--${name} ${given}: expected one of ${options.join(', ')}${didYouMean(given!.replace(/^"|"$/g, ''), options)}`;
    });
    if (lines.length > 0) return lines.join('; ');
  }
  const unknown = /^Unknown arguments?: (.*)$/.exec(msg);
  if (!unknown) return msg;
  const names = unknown[1]!.split(', ');
  // yargs lists each unknown option twice, as typed and camelCased: keep the typed one.
  const typed = names.filter((n) => !/[A-Z]/.test(n) || !names.includes(n.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)));
  // yargs hands `fail` its usage object, whose descriptions name every option of the command.
  const known = Object.keys((usage as { getDescriptions?: () => Record<string, unknown> }).getDescriptions?.() ?? {}).filter((k) => !/[A-Z]/.test(k));
  const options = typed.filter((n) => argv.some((a) => a === `--${n}` || a.startsWith(`--${n}=`) || a === `-${n}`));
  if (options.length === 0) return msg;
  return options.map((n) => `unknown option ${n.length === 1 ? '-' : '--'}${n}${didYouMean(n, known).replace(/"(.+)"/, (_m, k: string) => `--${k}`)}`).join('; ');
}

/**
 * The command line as yargs should see it: `--images -` (a lone `-` after an
 * option that takes a file, as the help says) would be read as a positional.
 */
function normalizeArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (/^--(images|windows-images)$/.test(a) && argv[i + 1] === '-') {
      out.push(`${a}=-`);
      i++;
    } else out.push(a);
  }
  return out;
}

/** `bundle ... --version v1.14.0` from a script written for an older flag: say so instead of printing airpack's version. */
function staleVersionFlag(argv: readonly string[]): AirpackError | undefined {
  const i = argv.indexOf('--version');
  const value = i >= 0 ? argv[i + 1] : undefined;
  if (value === undefined || value.startsWith('-') || argv[0] === 'version' || i === 0) return undefined;
  return new AirpackError('INVALID_ARGUMENT', `--version ${value}: --version prints airpack's own version and takes no value; for {version} in artifact names use --artifact-version ${value}`);
}

export async function main(rawArgv: string[] = process.argv.slice(2)): Promise<number> {
  const argv = normalizeArgv(rawArgv);
  const stale = staleVersionFlag(argv);
  if (stale) {
    process.stderr.write(`airpack: ${stale.message}\n`);
    return ExitCode.usage;
  }
  let exitCode: number = ExitCode.ok;
  // `find`/`ls`/`verify`/`extract` with a plain command line: no yargs to load (fast-path.ts).
  const plain = plainCommand(argv);
  quietOnClosedPipe(process.stdout);
  stopOnSignals();
  if (plain) {
    const module = (await COMMANDS[plain.command]!()) as { handler: (args: Record<string, unknown>) => Promise<void> };
    return runPlain(module.handler, plain.args);
  }
  const { default: yargs } = await import('yargs');
  const commands = await loadCommands(argv);
  // yargs checks unknown options only after an async handler has run: `bundle --cache-dri X`
  // downloaded and wrote everything, then said "Unknown arguments". So the command line is
  // first parsed with handlers that do nothing; only a line that passes runs for real.
  // A command with subcommands gives its own `validator` (its handlers live in its builder).
  const dryRun = commands.map((c) => (c as { validator?: object }).validator ?? { ...c, handler: () => {} });
  let valid = true;
  try {
    await build(yargs, argv, dryRun, () => (valid = false)).parseAsync();
  } catch (err) {
    // A builder's own check (a bad value) fails here, before any work.
    process.stderr.write(`airpack: ${(err as Error).message}\n`);
    return exitCodeFor(err) === ExitCode.internal ? ExitCode.usage : exitCodeFor(err);
  }
  if (!valid) return ExitCode.usage;
  const cli = build(yargs, argv, commands, () => (exitCode = ExitCode.usage));
  const failed = await run(() => cli.parseAsync());
  if (failed !== undefined) return failed;
  // A handler may set process.exitCode for an answer that is not an error (find: not found).
  return exitCode !== ExitCode.ok ? exitCode : Number(process.exitCode ?? ExitCode.ok);
}
