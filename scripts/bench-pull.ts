/**
 * bench-pull: airpack pull versus `skopeo copy ... docker-archive:` on the
 * same images from the same loopback registry, in one run, on both sample
 * sets (`--set disjoint|release|both`).
 *
 * - disjoint: several multi-arch images (linux/amd64 + linux/arm64) of real
 *   binary content from this machine's /usr, no layer shared between images
 *   or architectures.
 * - release: the release-like set (shared base layer, overlapping binaries,
 *   two versions of one image, one big image), linux/amd64.
 *
 * Reference: skopeo copies each image and architecture into its own
 * docker-archive (that is how per-image pipelines use it). airpack: one
 * `pull --layers uncompressed` per architecture, all images in one archive.
 * Rounds alternate which side goes first; medians reported.
 *
 * Usage: npm run bench:pull [-- --set both --images 4 --rounds 3 --layer-mib 12 --scale 1 --layers uncompressed|original]
 */
import { rmSync, statSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startRegistry } from '../test/support/registry.js';
import { alternateRounds, figures, fmt, measure, MiB, numberArg, requireTools, sequence, type Measurement, type Run } from './lib/measure.js';
import { pushSampleSet, sampleSets, type PushedSet } from './lib/sample-images.js';

const AIRPACK = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../../bin/airpack.js');
const LAYERS = process.argv.includes('--layers') ? String(process.argv[process.argv.indexOf('--layers') + 1]) : 'uncompressed';
const TARGET = 0.45;

async function benchSet(work: string, pushed: PushedSet, rounds: number): Promise<Record<string, unknown>> {
  const { images, architectures } = pushed;
  const runAirpack = async (): Promise<Run> => {
    const steps: Measurement[] = [];
    let bytes = 0;
    for (const arch of architectures) {
      const out = join(work, `airpack-${arch}.tar`);
      steps.push(await measure('node', [AIRPACK, 'pull', ...images.map((i) => i.ref), '-p', `linux/${arch}`, '--layers', LAYERS, '-o', out, '--quiet']));
      bytes += statSync(out).size;
      rmSync(out);
    }
    return { m: sequence(steps), bytes };
  };
  const runSkopeo = async (): Promise<Run> => {
    const steps: Measurement[] = [];
    let bytes = 0;
    for (const arch of architectures) {
      for (const image of images) {
        const out = join(work, `skopeo-${arch}.tar`);
        steps.push(await measure('skopeo', ['copy', '-q', '--override-arch', arch, '--override-os', 'linux', '--src-tls-verify=false', `docker://${image.ref}`, `docker-archive:${out}:${image.ref}`]));
        bytes += statSync(out).size;
        rmSync(out);
      }
    }
    return { m: sequence(steps), bytes };
  };
  const { airpack: a, reference: s } = await alternateRounds(rounds, { airpack: runAirpack, reference: runSkopeo, referenceName: 'skopeo' });
  return {
    set: pushed.set,
    images: images.length,
    architectures,
    pulledCompressedMiB: Number(fmt(images.reduce((n, i) => n + i.compressed, 0) / MiB, 1)),
    layersListedMiB: Number(fmt(pushed.uncompressed / MiB, 1)),
    rounds,
    layers: LAYERS,
    airpack: figures(a, 1),
    skopeo: figures(s, 1),
    ratio: { wall: Number(fmt(a.seconds / s.seconds, 3)), target: TARGET },
    peakMemoryTargetMiB: 256,
  };
}

async function main(): Promise<void> {
  requireTools(['/usr/bin/time', '/usr/bin/skopeo', '/usr/bin/docker-registry']);
  const rounds = numberArg('rounds', 3);
  const work = await mkdtemp(join(tmpdir(), 'airpack-bench-pull-'));
  const registry = await startRegistry();
  try {
    const results = [];
    for (const set of sampleSets()) {
      process.stderr.write(`[${set}] pushing...\n`);
      const pushed = await pushSampleSet(registry, set, { count: numberArg('images', 4), layerBytes: numberArg('layer-mib', 12) * MiB, architectures: ['amd64', 'arm64'] }, numberArg('scale', 1));
      results.push(await benchSet(work, pushed, rounds));
    }
    console.log(`\npull --layers ${LAYERS}, ${rounds} alternating rounds, medians; reference: skopeo copy docker-archive: per image and architecture`);
    console.log('| set | airpack | skopeo | ratio | target |');
    console.log('|---|---|---|---|---|');
    for (const r of results as Array<{ set: string; images: number; architectures: string[]; airpack: ReturnType<typeof figures>; skopeo: ReturnType<typeof figures>; ratio: { wall: number } }>) {
      const side = (f: ReturnType<typeof figures>): string => `${fmt(f.wallSeconds)} s, peak ${f.peakRssMiB} MiB`;
      console.log(`| ${r.set} (${r.images} images x ${r.architectures.length} arch) | ${side(r.airpack)} | ${side(r.skopeo)} | **${fmt(r.ratio.wall, 3)}** | <= ${TARGET}, peak < 256 MiB |`);
    }
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
