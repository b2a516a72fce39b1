/**
 * What the CLI prints. Results go to stdout (human lines, or one JSON
 * document with --json); progress and warnings go to stderr. A status line
 * is drawn only on a terminal, so CI logs stay quiet and parseable.
 */
import type { ProgressEvent, ProgressListener } from '../progress.js';

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
  /** Clear the status line before printing results. */
  done(): void;
}

/** A status line on stderr when it is a TTY; warnings always reach stderr. */
export function createReporter(verb: string, options: { quiet?: boolean; stream?: NodeJS.WriteStream } = {}): Reporter {
  const stream = options.stream ?? process.stderr;
  const live = stream.isTTY === true && !options.quiet && !process.env.CI;
  const started = Date.now();
  let images = 0;
  let imagesDone = 0;
  let total = 0;
  let received = 0;
  let phase = 'resolving';
  let lastDraw = 0;
  let drawn = false;

  const draw = (force = false): void => {
    if (!live) return;
    const now = Date.now();
    if (!force && now - lastDraw < 100) return;
    lastDraw = now;
    const seconds = (now - started) / 1000;
    const rate = seconds > 0 ? received / seconds : 0;
    const parts = [`${verb}: ${phase}`];
    if (images > 0) parts.push(`${imagesDone}/${images} images`);
    if (total > 0) parts.push(`${formatBytes(received)} / ${formatBytes(total)}`, `${formatBytes(rate)}/s`);
    const line = parts.join('  ');
    stream.write(`\r\x1b[2K${line.slice(0, (stream.columns ?? 100) - 1)}`);
    drawn = true;
  };

  const listener = (event: ProgressEvent): void => {
    switch (event.type) {
      case 'resolved':
        images = event.images;
        total = event.totalBytes;
        phase = 'downloading';
        break;
      case 'bytes':
        received += event.n;
        break;
      case 'image-done':
        imagesDone++;
        break;
      case 'writing':
        phase = `writing ${event.output}`;
        draw(true);
        return;
      case 'warning':
        if (drawn) stream.write('\r\x1b[2K');
        if (!options.quiet) stream.write(`warning: ${event.message}\n`);
        break;
      default:
        break;
    }
    draw();
  };

  return {
    listener,
    done() {
      if (drawn) stream.write('\r\x1b[2K');
    },
  };
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
