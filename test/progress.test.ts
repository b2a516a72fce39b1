/** The progress line: what it shows at each width, and the plain mode's lines for CI logs. */
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createReporter, progressLine } from '../src/cli/output.js';

const state = (done: number, total: number | undefined, samples: Array<[number, number]>) => ({ phase: 'compress' as const, total, done, what: '/srv/dist/rke2-images.linux-amd64.tar.zst', samples });

describe('progress line', () => {
  it('puts the numbers first and fits any width: bar when there is room, the name cut from the left', () => {
    // 100 MB of 400 done, 50 MB in the last 2 s: 25 MB/s, 12 s to go.
    const s = state(100e6, 400e6, [[0, 50e6]]);
    const wide = progressLine('bundle', s, '1/2 images', 120, 2000);
    expect(wide).toMatch(/^bundle: compressing \[#+\.+\]  25% 100\.0 MB\/400\.0 MB 25\.0 MB\/s ETA 0:12 1\/2 images …/);
    expect(wide.length).toBeLessThanOrEqual(120);
    expect(wide.endsWith('amd64.tar.zst')).toBe(true);
    for (const width of [40, 60, 80]) {
      const line = progressLine('bundle', s, '1/2 images', width, 2000);
      expect(line.length).toBeLessThanOrEqual(width);
      expect(line).toContain('25%');
    }
    expect(progressLine('bundle', s, '', 60, 2000)).toContain('ETA 0:12');
    // At 80 columns the bar wins over the names; narrower, the numbers go whole (bytes first, then the
    // speed), never cut in the middle: percent and ETA stay longest.
    expect(progressLine('bundle', s, '1/2 images', 80, 2000)).toMatch(/^bundle: compressing \[#+\.+\]  25% 100\.0 MB\/400\.0 MB 25\.0 MB\/s ETA 0:12/);
    for (let width = 20; width <= 120; width++) {
      const line = progressLine('bundle', s, '1/2 images', width, 2000);
      expect(line.length, `width ${width}`).toBeLessThanOrEqual(width);
      if (line.includes('ETA')) expect(line, `width ${width}`).toMatch(/ETA 0:12( |$)/);
      if (width >= 33) expect(line, `width ${width}`).toMatch(/ 25% .*ETA 0:12/);
    }
    expect(progressLine('bundle', s, '1/2 images', 39, 2000)).toBe('bundle: compressing  25% ETA 0:12');
    // Less than a second of samples: no speed and no ETA yet, rather than a wild guess.
    expect(progressLine('bundle', state(1e6, 400e6, [[0, 0]]), '', 80, 300)).toMatch(/ETA --:--/);
    expect(progressLine('bundle', state(1e6, 400e6, [[0, 0]]), '', 80, 300)).not.toMatch(/\/s/);
    // Unknown total: bytes and speed, no percentage.
    expect(progressLine('verify', { ...state(5e6, undefined, [[0, 0]]), phase: 'verify' }, '', 80, 1000)).toBe('verify: verifying 5.0 MB 5.0 MB/s /srv/dist/rke2-images.linux-amd64.tar.zst');
  });
});

describe('reporter modes', () => {
  afterEach(() => vi.useRealTimers());
  const sink = () => {
    const out: string[] = [];
    const stream = new Writable({ write: (c, _e, cb) => (out.push(String(c)), cb()) }) as unknown as NodeJS.WriteStream;
    return { out, stream };
  };

  it('plain: one line every 10 s with the real counters; none and a non-terminal: nothing', () => {
    vi.useFakeTimers();
    const { out, stream } = sink();
    const plain = createReporter('bundle', { stream, mode: 'plain' });
    plain.listener({ type: 'phase', phase: 'compress', totalBytes: 1000e6, what: 'x.tar.zst' });
    plain.listener({ type: 'progress', phase: 'compress', n: 100e6 });
    vi.advanceTimersByTime(10_000);
    plain.listener({ type: 'progress', phase: 'compress', n: 300e6 });
    vi.advanceTimersByTime(10_000);
    plain.done();
    expect(out).toHaveLength(2);
    expect(out[1]).toMatch(/^bundle: compressing .* 40% 400\.0 MB\/1\.0 GB 30\.0 MB\/s ETA 0:20 x\.tar\.zst\n$/);
    for (const mode of ['none', 'auto'] as const) {
      const quiet = sink();
      const r = createReporter('bundle', { stream: quiet.stream, mode });
      r.listener({ type: 'phase', phase: 'compress', totalBytes: 10 });
      vi.advanceTimersByTime(20_000);
      r.done();
      expect(quiet.out).toEqual([]);
    }
  });
});

describe('plain find/ls/verify/extract/reorder/pull command lines (parsed without yargs)', async () => {
  const { plainCommand } = await import('../src/cli/fast-path.js');
  it('parses what find, ls, verify, extract, reorder and pull take, and leaves everything else to the full parser', () => {
    expect(plainCommand(['find', 'rancher/x:v1', 'a.tar.zst', 'dir', '--first', '-q'])).toEqual({
      command: 'find',
      args: { json: false, quiet: true, first: true, progress: 'auto', ref: 'rancher/x:v1', paths: ['a.tar.zst', 'dir'] },
    });
    expect(plainCommand(['ls', '--json', 'a.tar'])?.args).toMatchObject({ json: true, bundles: ['a.tar'] });
    expect(plainCommand(['verify', 'a.tar.zst', 'b.tar', '--progress', 'plain'])).toEqual({
      command: 'verify',
      args: { json: false, quiet: false, progress: 'plain', bundles: ['a.tar.zst', 'b.tar'] },
    });
    expect(plainCommand(['extract', 'a.tar.zst', 'busybox:1.36', '-o', 'out.tar', '--platform=linux/arm64', '-q'])).toEqual({
      command: 'extract',
      args: { json: false, quiet: true, progress: 'auto', bundle: 'a.tar.zst', ref: 'busybox:1.36', output: 'out.tar', platform: 'linux/arm64' },
    });
    expect(plainCommand(['extract', 'a.tar', 'x:1', '--output=o.tar'])?.args).toMatchObject({ output: 'o.tar' });
    expect(plainCommand(['reorder', 'save.tar', '-o', 'out.tar.zst', '--json'])).toEqual({ command: 'reorder', args: { json: true, quiet: false, progress: 'auto', input: 'save.tar', output: 'out.tar.zst' } });
    // pull: platforms and insecure hosts repeat; the defaults are the full parser's.
    expect(plainCommand(['pull', 'a:1', 'b@sha256:' + 'a'.repeat(64), '-p', 'linux/amd64', '--platform=windows/amd64:ltsc2022', '--layers', 'uncompressed', '-o', 'x.tar', '--insecure', 'r:5000', '--skip-missing', '-q'])).toEqual({
      command: 'pull',
      args: { json: false, quiet: true, progress: 'auto', 'skip-missing': true, refs: ['a:1', 'b@sha256:' + 'a'.repeat(64)], platform: ['linux/amd64', 'windows/amd64:ltsc2022'], layers: 'uncompressed', output: 'x.tar', insecure: ['r:5000'] },
    });
    expect(plainCommand(['pull', 'a:1', '-o', 'x.tar'])?.args).toEqual({ json: false, quiet: false, progress: 'auto', refs: ['a:1'], platform: ['linux/amd64'], layers: 'original', output: 'x.tar' });
    // Each line gets its own copy of a default list.
    expect(plainCommand(['pull', 'a:1', '-o', 'x.tar'])?.args.platform).not.toBe(plainCommand(['pull', 'a:1', '-o', 'x.tar'])?.args.platform);
    // Help, version, unknown options, missing arguments, other commands: yargs has the messages.
    for (const argv of [['find', '--help', 'x', 'y'], ['find', 'x'], ['ls'], ['ls', 'a.tar', '--bogus'], ['find', 'x', 'y', '--version'], ['ls', 'a.tar', '--progress=plain'],
      ['verify'], ['verify', 'a.tar', '--progress', 'loud'], ['verify', 'a.tar', '--progress'], ['verify', 'a.tar', '--json=true'], ['verify', 'a.tar', '--no-json'],
      // extract: -o is required, given once, with a value that is no option; two positionals exactly.
      ['extract', 'a.tar', 'x:1'], ['extract', 'a.tar', 'x:1', '-o'], ['extract', 'a.tar', 'x:1', '-o', '--json'], ['extract', 'a.tar', 'x:1', '-o', 'a', '-o', 'b'],
      ['extract', 'a.tar', '-o', 'o.tar'], ['extract', 'a.tar', 'x:1', 'y', '-o', 'o.tar'], ['extract', 'a.tar', 'x:1', '-o', 'o.tar', '--level', '3'],
      // reorder: the full parser for stdin, stdout, a level, a compression or a frame size.
      ['reorder', '-o', 'o.tar'], ['reorder', 'a.tar'], ['reorder', 'a.tar', '-o', 'o.tar.zst', '--level', '3'], ['reorder', 'a.tar', '-o', 'o.tar', '--compression', 'zstd'], ['reorder', 'a.tar', 'b.tar', '-o', 'o.tar'],
      // pull: a word after a repeatable option is yargs' to place (it joins the list); a layer mode it does not know; a list file; no reference.
      ['pull', '-p', 'linux/amd64', 'a:1', '-o', 'x.tar'], ['pull', 'a:1', '--insecure', 'r', 'b:1', '-o', 'x.tar'], ['pull', 'a:1', '-o', 'x.tar', '--layers', 'zipped'],
      ['pull', '--images', 'list.txt', '-o', 'x.tar'], ['pull', '-o', 'x.tar'], ['pull', 'a:1', '-o', 'x.tar', '--concurrency', '2'], ['pull', 'a:1', '-o', 'x.tar', '-o', 'y.tar'],
      // yargs puts words after `--` aside, takes `true`/`false` after a flag as its value, and drops a lone `-` from a list.
      ['pull', 'a:1', '-o', 'x.tar', '--', 'b:1'], ['find', 'x', 'y', '--', 'z'], ['pull', 'a:1', '-o', 'x.tar', '--skip-missing', 'false'], ['verify', 'a.tar', '--json', 'true'], ['pull', 'a:1', '-', '-o', 'x.tar']]) {
      expect(plainCommand(argv), argv.join(' ')).toBeUndefined();
    }
  });
});
