/**
 * Timing and peak memory of a command, via GNU time (`/usr/bin/time`, the
 * Debian package "time"): wall seconds and maximum resident set size. For a
 * shell pipeline, run it under `bash -c`: GNU time reports the largest RSS of
 * any single process it waited for, which is what a pipeline's peak is.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Measurement {
  seconds: number;
  maxRssMiB: number;
  /** User plus system CPU seconds of the command and its children. */
  cpuSeconds?: number;
}

export const GNU_TIME = '/usr/bin/time';

export function requireTools(tools: readonly string[]): void {
  const missing = tools.filter((t) => !existsSync(t));
  if (missing.length > 0) {
    throw new Error(`missing ${missing.join(', ')}: apt-get install -y time skopeo zstd libarchive-tools docker-registry`);
  }
}

export async function measure(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<Measurement> {
  const out = join(tmpdir(), `airpack-measure-${process.pid}-${Date.now()}.txt`);
  const started = process.hrtime.bigint();
  const code = await new Promise<number>((resolve, reject) => {
    const child = spawn(GNU_TIME, ['-f', '%e %M %U %S', '-o', out, cmd, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    child.on('error', reject);
    child.on('close', (c) => (c === 0 ? resolve(0) : reject(new Error(`${cmd} ${args.join(' ')} exited ${c}: ${stderr}`))));
  });
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  const [, rssKb, user, system] = readFileSync(out, 'utf8').trim().split(/\s+/).slice(-4);
  rmSync(out, { force: true });
  void code;
  return { seconds: wall, maxRssMiB: Number(rssKb) / 1024, cpuSeconds: Number(user) + Number(system) };
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export const MiB = 1024 * 1024;
export const fmt = (n: number, digits = 2): string => n.toFixed(digits);

/** `--name N` from the command line, or `fallback`. */
export function numberArg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

/** One timed run of one side, with the size of what it wrote. */
export interface Run {
  m: Measurement;
  bytes: number;
}

export interface Summary {
  seconds: number;
  rss: number;
  bytes: number;
  /** Median CPU seconds (user + system), when measured. */
  cpu?: number;
}

/** Several rounds of one side: median wall time and CPU, largest peak memory, output size. */
export function summarize(runs: readonly Run[]): Summary {
  const cpus = runs.map((r) => r.m.cpuSeconds).filter((c): c is number => c !== undefined);
  return {
    seconds: median(runs.map((r) => r.m.seconds)),
    rss: Math.max(...runs.map((r) => r.m.maxRssMiB)),
    bytes: runs[0]!.bytes,
    ...(cpus.length === runs.length ? { cpu: median(cpus) } : {}),
  };
}

/** A summary as the JSON line reports it. */
export function figures(s: Summary, outputDigits = 2): { wallSeconds: number; peakRssMiB: number; outputMiB: number; cpuSeconds?: number; coresBusy?: number } {
  return {
    wallSeconds: Number(fmt(s.seconds)),
    peakRssMiB: Number(fmt(s.rss, 0)),
    outputMiB: Number(fmt(s.bytes / MiB, outputDigits)),
    ...(s.cpu !== undefined ? { cpuSeconds: Number(fmt(s.cpu, 1)), coresBusy: Number(fmt(s.cpu / s.seconds)) } : {}),
  };
}

/** Steps run one after another as one side: wall and CPU summed, the largest step's memory. */
export function sequence(steps: readonly Measurement[]): Measurement {
  return {
    seconds: steps.reduce((n, s) => n + s.seconds, 0),
    maxRssMiB: Math.max(...steps.map((s) => s.maxRssMiB)),
    cpuSeconds: steps.reduce((n, s) => n + (s.cpuSeconds ?? 0), 0),
  };
}

/**
 * `rounds` rounds of both sides, alternating which goes first so page-cache
 * warmth favours neither; prints each round; returns both sides' summaries.
 */
export async function alternateRounds(
  rounds: number,
  sides: { airpack: () => Promise<Run>; reference: () => Promise<Run>; referenceName: string },
): Promise<{ airpack: Summary; reference: Summary }> {
  const airpack: Run[] = [];
  const reference: Run[] = [];
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      airpack.push(await sides.airpack());
      reference.push(await sides.reference());
    } else {
      reference.push(await sides.reference());
      airpack.push(await sides.airpack());
    }
    process.stderr.write(`round ${r + 1}: airpack ${fmt(airpack.at(-1)!.m.seconds)} s, ${sides.referenceName} ${fmt(reference.at(-1)!.m.seconds)} s\n`);
  }
  return { airpack: summarize(airpack), reference: summarize(reference) };
}
