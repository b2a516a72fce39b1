/**
 * bench-bundle: `airpack bundle` versus the rke2-style reference pipeline on
 * the same images from the same loopback registry, in one run, on both
 * sample sets (the disjoint one and the release-like one; `--set`).
 *
 * Reference: `skopeo copy --dest-decompress` of each image into one OCI
 * layout (uncompressed layers, every blob once, as `docker image save` of
 * the list stores them), `bsdtar -c` of it, rke2's two bsdtar passes moving
 * the metadata first, then `zstd -T0 -16 --long=25`. Wall and CPU time are
 * the sums of the steps; peak memory the largest step's RSS. airpack: one `bundle -o X.tar.zst` (layers
 * uncompressed, level 16). Variants (--variants) add `--layers original`
 * and 64 / 192 MiB frames (the default is 256) to show what those choices cost or gain.
 * --rebundle times re-bundling out of an airpack bundle (read in place)
 * against the same out of an uncompressed tar, into a bundle and into a
 * plain tar.
 *
 * Usage: npm run bench:bundle -- [--set both|disjoint|release] [--rounds 3]
 *          [--images 4] [--layer-mib 25] [--scale 1] [--variants] [--rebundle]
 * (disjoint: 4 images x 3 layers x 25 MiB = ~300 MiB; release-like: ~330 MiB at scale 1.)
 */
import { existsSync, linkSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startRegistry } from '../test/support/registry.js';
import { alternateRounds, figures, fmt, measure, MiB, numberArg, requireTools, sequence, summarize, type Measurement, type Run } from './lib/measure.js';
import { pushSampleSet, sampleSets, type SampleSet } from './lib/sample-images.js';

const AIRPACK = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../../bin/airpack.js');

async function benchSet(registry: { url: string; host: string }, work: string, set: SampleSet, rounds: number): Promise<Record<string, unknown>> {
  process.stderr.write(`[${set}] pushing the ${set === 'release' ? 'release-like' : 'disjoint'} set...\n`);
  const pushed = await pushSampleSet(registry, set, { count: numberArg('images', 4), layerBytes: numberArg('layer-mib', 25) * MiB, architectures: ['amd64'] }, numberArg('scale', 1));
  const refs = pushed.images.map((i) => i.ref);
  const { uncompressed } = pushed;
  process.stderr.write(`[${set}] ${refs.length} images, ${fmt(uncompressed / MiB, 1)} MiB of layers listed (shared ones once per image)\n`);

  const runAirpack = async (extra: string[] = []): Promise<Run> => {
    const out = join(work, 'airpack.tar.zst');
    const m = await measure('node', [AIRPACK, 'bundle', ...refs, '-p', 'linux/amd64', '-o', out, '--quiet', ...extra]);
    const bytes = statSync(out).size;
    rmSync(out);
    return { m, bytes };
  };

  // rke2's scripts/package-images: `docker image save` of the list (every blob once, in the
  // layout's order), bsdtar moving the metadata first, `zstd -T0 -16 --long=25`. Here skopeo
  // copies each image into a `dir:` with layers decompressed, as docker save stores them
  // (skopeo's `oci:` ignores --dest-decompress), and the blobs are gathered once each into
  // blobs/sha256/, as docker save's layout holds them (a hard link, not timed).
  const runReference = async (): Promise<Run> => {
    const steps: Measurement[] = [];
    const layout = join(work, 'ref');
    const blobs = join(layout, 'blobs', 'sha256');
    mkdirSync(blobs, { recursive: true });
    for (const [i, ref] of refs.entries()) {
      const dir = join(layout, `image-${i}`);
      steps.push(await measure('skopeo', ['copy', '-q', '--src-tls-verify=false', '--dest-decompress', `docker://${ref}`, `dir:${dir}`]));
      for (const name of readdirSync(dir)) {
        if (!/^[0-9a-f]{64}$/.test(name)) continue;
        if (!existsSync(join(blobs, name))) linkSync(join(dir, name), join(blobs, name));
        rmSync(join(dir, name));
      }
    }
    const packed = join(work, 'packed.tar');
    const reordered = join(work, 'reordered.tar');
    steps.push(await measure('bsdtar', ['-c', '-f', packed, '-C', layout, '.']));
    steps.push(await measure('bsdtar', ['-c', '-f', reordered, '--include=./image-*', `@${packed}`]));
    steps.push(await measure('bsdtar', ['-r', '-f', reordered, '--exclude=./image-*', `@${packed}`]));
    steps.push(await measure('zstd', ['-q', '-f', '-T0', '-16', '--long=25', reordered, '-o', `${reordered}.zst`]));
    const bytes = statSync(`${reordered}.zst`).size;
    rmSync(layout, { recursive: true, force: true });
    for (const f of [packed, reordered, `${reordered}.zst`]) rmSync(f, { force: true });
    return { m: sequence(steps), bytes };
  };

  const { airpack: a, reference: s } = await alternateRounds(rounds, { airpack: () => runAirpack(), reference: runReference, referenceName: 'reference' });
  const extra: Record<string, ReturnType<typeof figures>> = {};
  if (process.argv.includes('--variants')) {
    for (const [name, flags] of [
      ['layers-original', ['--layers', 'original']],
      ['frame-64MiB', ['--frame-size', '64M']],
      ['frame-192MiB', ['--frame-size', '192M']],
    ] as const) {
      const v = await runAirpack([...flags]);
      extra[name] = figures(summarize([v]));
      process.stderr.write(`[${set}] variant ${name}: ${fmt(v.m.seconds)} s, ${fmt(v.bytes / MiB, 2)} MiB\n`);
    }
  }
  // Re-bundling out of a bundle reads it in place (seek table + entry index, no scratch copy):
  // compare with reading the same images out of an uncompressed tar, alternating rounds,
  // into a bundle (the real job) and into a plain tar (where the read is all the work).
  let rebundle: Record<string, unknown> | undefined;
  if (process.argv.includes('--rebundle')) {
    const bundleIn = join(work, 'in.tar.zst');
    const tarIn = join(work, 'in.tar');
    await measure('node', [AIRPACK, 'bundle', ...refs, '-p', 'linux/amd64', '-o', bundleIn, '--quiet', '--level', '3']);
    await measure('node', [AIRPACK, 'pull', ...refs, '-p', 'linux/amd64', '--layers', 'uncompressed', '-o', tarIn, '--quiet']);
    rebundle = {};
    for (const [name, output, flags] of [
      ['to-bundle-level-3', 'out.tar.zst', ['--level', '3']],
      ['to-plain-tar', 'out.tar', []],
    ] as const) {
      const from = (input: string) => async (): Promise<Run> => {
        const out = join(work, output);
        const m = await measure('node', [AIRPACK, 'bundle', input, '-p', 'linux/amd64', '-o', out, '--quiet', ...flags]);
        const bytes = statSync(out).size;
        rmSync(out);
        return { m, bytes };
      };
      process.stderr.write(`[${set}] re-bundle ${name}: from the bundle (airpack) vs from the plain tar (reference)\n`);
      const r = await alternateRounds(Math.max(3, rounds), { airpack: from(bundleIn), reference: from(tarIn), referenceName: 'from-tar' });
      rebundle[name] = { fromBundle: figures(r.airpack), fromTar: figures(r.reference), ratio: Number(fmt(r.airpack.seconds / r.reference.seconds, 3)), target: 1.2 };
    }
    rmSync(bundleIn, { force: true });
    rmSync(tarIn, { force: true });
  }
  return {
    set,
    images: refs.length,
    layersListedMiB: Number(fmt(uncompressed / MiB, 1)),
    rounds,
    airpack: figures(a),
    reference: figures(s),
    ratio: {
      wall: Number(fmt(a.seconds / s.seconds, 3)),
      size: Number(fmt(a.bytes / s.bytes, 4)),
      // The best wall ratio airpack's own work allows here: its CPU seconds spread over two cores with
      // not a moment idle, against the reference's wall. Level 16 is the cost; no frame plan goes below this.
      twoCoreFloor: a.cpu !== undefined ? Number(fmt(a.cpu / 2 / s.seconds, 3)) : undefined,
      targets: { wall: 0.7, size: 0.95, peakRssMiB: 512 },
    },
    variants: extra,
    ...(rebundle ? { rebundle } : {}),
  };
}

const cores = (f: { cpuSeconds?: number; coresBusy?: number }): string => (f.cpuSeconds !== undefined ? `${fmt(f.cpuSeconds, 1)} s CPU (${fmt(f.coresBusy ?? 0)} cores)` : '');

async function main(): Promise<void> {
  requireTools(['/usr/bin/time', '/usr/bin/skopeo', '/usr/bin/docker-registry', '/usr/bin/bsdtar', '/usr/bin/zstd']);
  const rounds = numberArg('rounds', 3);
  const work = await mkdtemp(join(tmpdir(), 'airpack-bench-bundle-'));
  const registry = await startRegistry();
  try {
    const results = [];
    for (const set of sampleSets()) results.push(await benchSet(registry, work, set, rounds));
    console.log(`\nbundle, level 16, ${rounds} alternating rounds, medians; reference: skopeo + bsdtar x3 + zstd -T0 -16 --long=25`);
    console.log('| set | airpack | reference | size ratio | wall ratio | two-core floor | targets |');
    console.log('|---|---|---|---|---|---|---|');
    for (const r of results as Array<{ set: string; images: number; airpack: ReturnType<typeof figures>; reference: ReturnType<typeof figures>; ratio: { wall: number; size: number; twoCoreFloor?: number } }>) {
      const side = (f: ReturnType<typeof figures>): string => `${fmt(f.wallSeconds)} s, ${cores(f)}, ${fmt(f.outputMiB)} MiB, peak ${f.peakRssMiB} MiB`;
      const floor = r.ratio.twoCoreFloor !== undefined ? fmt(r.ratio.twoCoreFloor, 3) : '-';
      console.log(`| ${r.set} (${r.images} images) | ${side(r.airpack)} | ${side(r.reference)} | **${fmt(r.ratio.size, 3)}** | **${fmt(r.ratio.wall, 3)}** | ${floor} | size <= 0.95, wall <= 0.7 |`);
    }
    console.log('two-core floor: airpack CPU seconds / 2 / reference wall, the wall ratio with both cores busy every second and nothing else to do');
    for (const r of results) console.log(JSON.stringify(r));
  } finally {
    await registry.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
