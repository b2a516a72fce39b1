/**
 * What every run of the command line does around its command, shared by
 * cli/main.ts and the bundled find/ls entry (cli/fast-entry.ts): a closed
 * output pipe ends the run quietly, a signal removes temp files and exits
 * 128 + its number, and a failure prints one line with its exit code.
 */
import { exitCodeFor, ExitCode, isAirpackError } from '../errors.js';
import { runInterruptCleanups } from '../io/cleanup.js';

/**
 * A reader that stops early (`airpack ls X | head -1`) closes the pipe: the
 * output is no longer wanted, which is no failure. Exit at once, quietly,
 * as cat and ls do, instead of dying with an EPIPE stack trace.
 */
let pipeHandled = false;
export function quietOnClosedPipe(stream: NodeJS.WriteStream): void {
  if (pipeHandled) return;
  pipeHandled = true;
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? ExitCode.ok);
    throw err;
  });
}

/**
 * Ctrl-C (SIGINT) or SIGTERM ends the run at once: every temp file and
 * scratch directory it made is removed (io/cleanup.ts), complete outputs are
 * left as they are, and the exit code is the shell's 128 + signal number
 * (SIGHUP too: a closed terminal).
 */
function stopRun(why: string, code: number): never {
  runInterruptCleanups();
  process.stderr.write(`airpack: ${why}; temp files removed\n`);
  // Once more after file-system calls already on the thread pool have landed (io/cleanup.ts). The
  // wait blocks this thread, so none of the run's own code goes on in between (no rename of a
  // removed temp file, no other exit code).
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  runInterruptCleanups();
  process.exit(code);
}

let signalsHandled = false;
export function stopOnSignals(): void {
  // Once per process: main() may run more than once (tests call it in-process).
  if (signalsHandled) return;
  signalsHandled = true;
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) process.once(signal, () => stopRun(`stopped by ${signal}`, code));
  // SIGHUP: the terminal was closed under a run. Only when there is one: a listener replaces an
  // inherited "ignore", and `nohup airpack bundle ... &` must outlive its terminal.
  if (process.stdin.isTTY && process.stderr.isTTY) process.once('SIGHUP', () => stopRun('stopped by SIGHUP', 129));
}

/**
 * For the CLI process only (bin/airpack.js; not for tests that run main()
 * in theirs): a bug that escapes every handler, such as a rejection nobody
 * awaited, still leaves nothing behind and exits 70.
 */
export function stopOnUncaughtErrors(): void {
  process.once('uncaughtException', (err) => stopRun(`internal error: ${err?.stack ?? String(err)}`, ExitCode.internal));
}

/** Runs a command; a failure prints one line (a bug its stack) and gives its exit code. */
export async function run(work: () => Promise<unknown>): Promise<number | undefined> {
  try {
    await work();
    return undefined;
  } catch (err) {
    const code = exitCodeFor(err);
    // Known failures get one line; only a bug (internal) gets its stack.
    const message = isAirpackError(err) || code !== ExitCode.internal ? (err as Error).message : ((err as Error)?.stack ?? String(err));
    process.stderr.write(`airpack: ${message}\n`);
    return code;
  }
}

/** Runs a command handler parsed by the fast path; its exit code (a handler may set process.exitCode: find's not found). */
export async function runPlain(handler: (args: Record<string, unknown>) => Promise<void>, args: Record<string, unknown>): Promise<number> {
  const code = await run(() => handler(args));
  return code ?? Number(process.exitCode ?? ExitCode.ok);
}
