/**
 * What the CLI prints. Results go to stdout (human lines, or one JSON
 * document with --json); progress and warnings go to stderr. A status line
 * is drawn only on a terminal, so CI logs stay quiet and parseable.
 */
import type { Phase, ProgressEvent, ProgressListener } from '../progress.js';

export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = n;
  let unit = 0;
  while (Math.abs(value) >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/**
 * "2 image(s)", as `ls` counts them (one per name), and how many platform
 * manifests they hold when that differs: a bundle of 2 images for 2
 * platforms holds 4.
 */
export function imageCount(images: ReadonlyArray<{ reference: string }>): string {
  const names = new Set(images.map((i) => i.reference)).size;
  return names === images.length ? `${names} image(s)` : `${names} image(s) (${images.length} platform manifests)`;
}

export interface Reporter {
  listener: ProgressListener;
  /** Clear the status line before printing results (and stop its timers). */
  done(): void;
  /**
   * `done()`, then where progress shows (a live line, or --progress plain) one closing line on
   * stderr: `VERB: SUMMARY in S s`, the run's own seconds. Elsewhere nothing: a CI log or a
   * script gets the result on stdout only.
   */
  finish(summary: string): void;
}

/** How progress is shown: a redrawn line on a terminal, a plain line every 10 s (CI logs), or nothing. */
export type ProgressMode = 'auto' | 'tty' | 'plain' | 'none';

/** The options every command has (cli/main.ts declares them global). */
export interface GlobalArgs {
  json: boolean;
  quiet: boolean;
  progress: ProgressMode;
}
export const PROGRESS_MODES: readonly ProgressMode[] = ['auto', 'tty', 'plain', 'none'];

const PHASE_WORDS: Record<Phase, string> = { resolve: 'resolving', download: 'downloading', compress: 'compressing', write: 'writing', verify: 'verifying', push: 'pushing' };

interface PhaseState {
  phase: Phase;
  total: number | undefined;
  done: number;
  what: string | undefined;
  /** (time, done) samples of the last few seconds: the speed is of now, not the average since the start. */
  samples: Array<[number, number]>;
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

/**
 * The status line of one phase, fitted to `width`: numbers first (percent,
 * bytes, speed, ETA; the least telling dropped first when short of room,
 * never cut in the middle), then a bar in the room left, the names last
 * (the file name cut from the left: its end says most). Speed and ETA wait
 * for a second of samples: earlier ones are noise.
 */
export function progressLine(verb: string, state: PhaseState, images: string, width: number, now: number): string {
  const first = state.samples[0];
  const seconds = first ? (now - first[0]) / 1000 : 0;
  const speed = first && seconds >= 1 ? (state.done - first[1]) / seconds : undefined;
  const known = state.total !== undefined && state.total > 0;
  const fraction = known ? Math.min(1, state.done / state.total!) : 0;
  const percent = known ? `${(fraction * 100).toFixed(0).padStart(3)}%` : '';
  // Resolving counts references (a manifest round trip each), not bytes: no byte rate to show.
  const counted = state.phase === 'resolve';
  const amount = counted ? (n: number): string => String(n) : formatBytes;
  const bytes = `${known ? `${amount(state.done)}/${amount(state.total!)}` : amount(state.done)}${counted ? ' refs' : ''}`;
  const rate = speed !== undefined && !counted ? `${formatBytes(speed)}/s` : '';
  const eta = known ? `ETA ${speed !== undefined && speed > 0 ? duration((state.total! - state.done) / speed) : '--:--'}` : '';
  const head = `${verb}: ${PHASE_WORDS[state.phase]}`;
  const join = (parts: string[]): string => parts.filter(Boolean).join(' ');
  // Fewer numbers until they fit: bytes go first, then the speed; percent and ETA stay longest.
  const choices = [[percent, bytes, rate, eta], [percent, rate, eta], [percent, eta], [percent], []];
  const numbers = choices.find((c) => join([head, ...c]).length <= width) ?? [];
  let line = join([head, ...numbers]);
  if (line.length > width) return head.slice(0, width);
  // The bar before the names: up to 30 cells, drawn when at least 10 fit.
  const cells = Math.min(30, width - line.length - 3);
  if (known && cells >= 10) {
    const filled = Math.round(fraction * cells);
    line = join([head, `[${'#'.repeat(filled)}${'.'.repeat(cells - filled)}]`, ...numbers]);
  }
  if (images && width - line.length - 1 >= images.length) line += ` ${images}`;
  const left = width - line.length - 1;
  const what = state.what ?? '';
  if (what && left >= 8) line += ` ${what.length > left ? `…${what.slice(what.length - left + 1)}` : what}`;
  return line;
}

/**
 * Progress on stderr. On a terminal (`auto`, `tty`): one line, redrawn four
 * times a second from the real counters and on resize, cleared by `done()`.
 * `plain`: a line every 10 s, for long CI jobs. `none`, --quiet, or `auto`
 * without a terminal (or with CI set): nothing. Warnings always print.
 */
export function createReporter(verb: string, options: { quiet?: boolean; stream?: NodeJS.WriteStream; mode?: ProgressMode } = {}): Reporter {
  const stream = options.stream ?? process.stderr;
  const mode = options.mode ?? 'auto';
  const live = !options.quiet && (mode === 'tty' || (mode === 'auto' && stream.isTTY === true && !process.env.CI));
  const plain = !options.quiet && mode === 'plain';
  const started = Date.now();
  const phases = new Map<Phase, PhaseState>();
  let current: PhaseState | undefined;
  let images = 0;
  let imagesDone = 0;
  let drawn = false;

  const phase = (p: Phase, total?: number, what?: string): PhaseState => {
    let state = phases.get(p);
    if (!state || total !== undefined) {
      // The first sample is the start: the first line drawn already has a speed.
      state = { phase: p, total, done: 0, what, samples: [[Date.now(), 0]] };
      phases.set(p, state);
    }
    current = state;
    return state;
  };
  const advance = (state: PhaseState, n: number): void => {
    state.done += n;
  };
  const sample = (now: number): void => {
    if (!current) return;
    current.samples.push([now, current.done]);
    while (current.samples.length > 2 && now - current.samples[0]![0] > 3000) current.samples.shift();
  };
  const imagesText = (): string => (images > 0 ? `${imagesDone}/${images} images` : '');
  const draw = (): void => {
    if (!current) return;
    const now = Date.now();
    sample(now);
    const width = Math.max(20, (stream.columns ?? 80) - 1);
    stream.write(`\r\x1b[2K${progressLine(verb, current, imagesText(), width, now)}`);
    drawn = true;
  };
  const print = (): void => {
    if (!current) return;
    const now = Date.now();
    sample(now);
    stream.write(`${progressLine(verb, current, imagesText(), 200, now)}\n`);
  };
  const timer = live ? setInterval(draw, 250) : plain ? setInterval(print, 10_000) : undefined;
  timer?.unref();
  const onResize = (): void => draw();
  if (live) stream.on('resize', onResize);

  const listener = (event: ProgressEvent): void => {
    switch (event.type) {
      case 'resolved':
        // Per artifact, when a bundle writes several: its own count, from none done.
        images = event.images;
        imagesDone = 0;
        phase(verb === 'push' ? 'push' : 'download', event.totalBytes);
        break;
      case 'bytes':
        advance(phases.get(verb === 'push' ? 'push' : 'download') ?? phase(verb === 'push' ? 'push' : 'download'), event.n);
        break;
      case 'phase':
        phase(event.phase, event.totalBytes, event.what);
        break;
      case 'progress':
        advance(phases.get(event.phase) ?? phase(event.phase), event.n);
        break;
      case 'image-done':
        imagesDone++;
        break;
      case 'warning':
        if (drawn) stream.write('\r\x1b[2K');
        if (!options.quiet) stream.write(`warning: ${event.message}\n`);
        break;
      default:
        break;
    }
  };

  const done = (): void => {
    if (timer) clearInterval(timer);
    if (live) stream.off('resize', onResize);
    if (drawn) stream.write('\r\x1b[2K');
    drawn = false;
  };
  return {
    listener,
    done,
    finish(summary) {
      done();
      if (live || plain) stream.write(`${verb}: ${summary} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    },
  };
}

/**
 * Runs `work` with a progress line for `verb` on stderr (none with --quiet; --json is stdout's
 * business), cleared before the result prints; `summary` of the result is the closing line where
 * progress shows (Reporter.finish).
 */
export async function withProgress<T>(verb: string, args: GlobalArgs, work: (listener: ProgressListener) => Promise<T>, summary: (result: T) => string): Promise<T> {
  const reporter = createReporter(verb, { quiet: args.quiet, mode: args.progress });
  try {
    const result = await work(reporter.listener);
    reporter.finish(summary(result));
    return result;
  } finally {
    reporter.done();
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
