/**
 * The commands a script runs in a loop (`find`, `ls`), parsed without
 * yargs when their command line is plain: loading yargs costs about as much
 * as starting node (measured: `node -e 0` 0.05 s, importing yargs 0.12 s),
 * and `find` is meant to answer in milliseconds. Anything else (help,
 * version, an option these do not take, a missing argument) goes to the
 * full parser, which has the messages.
 */
import type { ProgressMode } from './output.js';

interface Plain {
  command: 'find' | 'ls';
  args: Record<string, unknown>;
}

const FLAGS: Record<Plain['command'], readonly string[]> = { find: ['--first', '--json', '--quiet', '-q'], ls: ['--json', '--quiet', '-q'] };

/** The parsed arguments of a plain `find`/`ls` line, or undefined for the full parser. */
export function plainCommand(argv: readonly string[]): Plain | undefined {
  const [command, ...rest] = argv;
  if (command !== 'find' && command !== 'ls') return undefined;
  const positionals: string[] = [];
  const args: Record<string, unknown> = { json: false, quiet: false, first: false, progress: 'auto' as ProgressMode };
  let onlyPositionals = false;
  for (const a of rest) {
    if (onlyPositionals || !a.startsWith('-') || a === '-') {
      positionals.push(a);
      continue;
    }
    if (a === '--') {
      onlyPositionals = true;
      continue;
    }
    if (!FLAGS[command].includes(a)) return undefined;
    args[a === '-q' ? 'quiet' : a.slice(2)] = true;
  }
  if (command === 'find') {
    if (positionals.length < 2) return undefined;
    return { command, args: { ...args, ref: positionals[0], paths: positionals.slice(1) } };
  }
  if (positionals.length < 1) return undefined;
  return { command, args: { ...args, bundles: positionals } };
}
