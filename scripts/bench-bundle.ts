/**
 * bench-bundle: `airpack bundle` versus the rke2-style reference pipeline on
 * the same images from the same loopback registry, in one run.
 *
 * Reference: `skopeo copy --dest-decompress` of each image into a `dir:`
 * (uncompressed layers, as docker save stores them), `bsdtar -c` of the lot,
 * rke2's two bsdtar passes moving manifest.json/repositories first, then
 * `zstd -T0 -16 --long=25`. Wall time is the sum of the steps; peak memory
 * the largest step's RSS. airpack: one `bundle -o X.tar.zst` (layers
 * uncompressed, level 16). Variants (--variants) add `--layers original`
 * and 64 / 256 MiB frames to show what those choices cost or gain.
 * --rebundle times re-bundling out of an airpack bundle (read in place)
 * against the same out of an uncompressed tar, into a bundle and into a
 * plain tar.
 *
 * Usage: npx tsc -p tsconfig.scripts.json && node build/scripts/bench-bundle.js
 *          [--images 4] [--layer-mib 25] [--rounds 1] [--variants] [--rebundle]
 * (4 images x 3 layers x 25 MiB = ~300 MB uncompressed.)
 */
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startRegistry } from '../test/support/registry.js';
import { alternateRounds, figures, fmt, measure, MiB, numberArg, requireTools, summarize, type Measurement, type Run } from './lib/measure.js';
import { pushRealisticImages } from './lib/sample-images.js';

const AIRPACK = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../../bin/airpack.js');

async function main(): Promise<void> {
  requireTools(['/usr/bin/time', '/usr/bin/skopeo', '/usr/bin/docker-registry', '/usr/bin/bsdtar', '/usr/bin/zstd']);
  const count = numberArg('images', 4);
  const rounds = numberArg('rounds', 1);
  const layerBytes = numberArg('layer-mib', 25) * MiB;
  const variants = process.argv.includes('--variants');
  const work = await mkdtemp(join(tmpdir(), 'airpack-bench-bundle-'));
  const registry = await startRegistry();
  try {
    process.stderr.write(`pushing ${count} images x 3 layers of ~${layerBytes / MiB} MiB (linux/amd64)...\n`);
    const images = await pushRealisticImages(registry, { count, architectures: ['amd64'], layersPerImage: 3, layerBytes });
    const uncompressed = images.reduce((n, i) => n + i.uncompressed, 0);
    process.stderr.write(`pushed: ${fmt(uncompressed / MiB, 1)} MiB uncompressed\n`);
    const refs = images.map((i) => i.ref);

    const runAirpack = async (extra: string[] = []): Promise<Run> => {
      const out = join(work, 'airpack.tar.zst');
      const m = await measure('node', [AIRPACK, 'bundle', ...refs, '-p', 'linux/amd64', '-o', out, '--quiet', ...extra]);
      const bytes = statSync(out).size;
      rmSync(out);
      return { m, bytes };
    };

    const runReference = async (): Promise<Run> => {
      const steps: Measurement[] = [];
      const dirs = join(work, 'ref');
      mkdirSync(dirs, { recursive: true });
      for (const [i, ref] of refs.entries()) {
        steps.push(await measure('skopeo', ['copy', '-q', '--src-tls-verify=false', '--dest-decompress', `docker://${ref}`, `dir:${join(dirs, `img-${i}`)}`]));
      }
      const packed = join(work, 'packed.tar');
      const reordered = join(work, 'reordered.tar');
      steps.push(await measure('bsdtar', ['-c', '-f', packed, '-C', dirs, '.']));
      // rke2's scripts/package-images: metadata first, then everything else.
      steps.push(await measure('bsdtar', ['-c', '-f', reordered, '--include=manifest.json', '--include=repositories', `@${packed}`]));
      steps.push(await measure('bsdtar', ['-r', '-f', reordered, '--exclude=manifest.json', '--exclude=repositories', `@${packed}`]));
      steps.push(await measure('zstd', ['-q', '-f', '-T0', '-16', '--long=25', reordered, '-o', `${reordered}.zst`]));
      const bytes = statSync(`${reordered}.zst`).size;
      rmSync(dirs, { recursive: true, force: true });
      for (const f of [packed, reordered, `${reordered}.zst`]) rmSync(f, { force: true });
      return { m: { seconds: steps.reduce((n, s) => n + s.seconds, 0), maxRssMiB: Math.max(...steps.map((s) => s.maxRssMiB)) }, bytes };
    };

    const { airpack: a, reference: s } = await alternateRounds(rounds, { airpack: () => runAirpack(), reference: runReference, referenceName: 'reference' });
    const extra: Record<string, ReturnType<typeof figures>> = {};
    if (variants) {
      for (const [name, flags] of [
        ['layers-original', ['--layers', 'original']],
        ['frame-64MiB', ['--frame-size', '64M']],
        ['frame-256MiB', ['--frame-size', '256M']],
      ] as const) {
        const v = await runAirpack([...flags]);
        extra[name] = figures(summarize([v]));
        process.stderr.write(`variant ${name}: ${fmt(v.m.seconds)} s, ${fmt(v.bytes / MiB, 2)} MiB\n`);
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
        process.stderr.write(`re-bundle ${name}: from the bundle (airpack) vs from the plain tar (reference)\n`);
        const r = await alternateRounds(Math.max(3, rounds), { airpack: from(bundleIn), reference: from(tarIn), referenceName: 'from-tar' });
        rebundle[name] = { fromBundle: figures(r.airpack), fromTar: figures(r.reference), ratio: Number(fmt(r.airpack.seconds / r.reference.seconds, 3)), target: 1.2 };
        console.log(`re-bundle ${name}: from .tar.zst ${fmt(r.airpack.seconds)} s, from .tar ${fmt(r.reference.seconds)} s, ratio ${fmt(r.airpack.seconds / r.reference.seconds, 3)} (target <= 1.2)`);
      }
    }
    const result = {
      images: count,
      tarUncompressedMiB: Number(fmt(uncompressed / MiB, 1)),
      rounds,
      airpack: figures(a),
      reference: figures(s),
      ratio: { wall: Number(fmt(a.seconds / s.seconds, 3)), size: Number(fmt(a.bytes / s.bytes, 4)), targets: { wall: 0.8, size: 1.02, peakRssMiB: 512 } },
      variants: extra,
      ...(rebundle ? { rebundle } : {}),
    };
    console.log(`airpack bundle (uncompressed, -16):          ${fmt(a.seconds)} s, ${fmt(a.bytes / MiB, 2)} MiB, peak ${fmt(a.rss, 0)} MiB`);
    console.log(`skopeo + bsdtar x3 + zstd -T0 -16 --long=25: ${fmt(s.seconds)} s, ${fmt(s.bytes / MiB, 2)} MiB, peak ${fmt(s.rss, 0)} MiB`);
    console.log(`ratios airpack/reference: wall ${fmt(a.seconds / s.seconds, 3)} (target <= 0.8), size ${fmt(a.bytes / s.bytes, 4)} (target <= 1.02)`);
    console.log(JSON.stringify(result));
  } finally {
    await registry.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
