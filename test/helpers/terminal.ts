/**
 * The airpack CLI on a terminal: run under script(1), its stdin and stdout
 * (stderr too, merged into stdout) are a pseudo-terminal, as at a prompt, and
 * CI is unset so progress draws. And the lines a terminal shows of what it
 * wrote: redrawn lines split at \r, their erase-line codes removed.
 */
import { join } from 'node:path';
import { run, type RunResult } from '../support/util.js';

const ROOT = join(__dirname, '..', '..');

/** `node bin/airpack.js ARGS` (a shell string: quote paths) on a terminal `cols` wide when given. */
export function airpackOnTerminal(args: string, opts: { cols?: number } = {}): Promise<RunResult> {
  const cmd = `${opts.cols ? `stty cols ${opts.cols}; ` : ''}node bin/airpack.js ${args}`;
  return run('script', ['-qfec', cmd, '/dev/null'], { cwd: ROOT, env: { ...process.env, DOCKER_CONFIG: '/nonexistent', CI: '' } });
}

/** The lines a terminal showed of `out` (each redraw its own line), those starting with `prefix` when given. */
export function terminalLines(out: string, prefix = ''): string[] {
  return out
    .split(/\r|\n/)
    .map((l) => l.replaceAll('\x1b[2K', ''))
    .filter((l) => l.startsWith(prefix));
}
