/**
 * bench-pull: airpack pull versus `skopeo copy ... docker-archive:` on the
 * same images from the same loopback registry, in one run.
 *
 * Images: several multi-arch images (linux/amd64 + linux/arm64) of real
 * binary content from this machine's /usr, tens of MB each, no layer shared
 * between images or architectures. Reference: skopeo copies each image and
 * architecture into its own docker-archive (that is how per-image pipelines
 * use it). airpack: one `pull --layers uncompressed` per architecture, all
 * images in one archive. Each side runs `--rounds` times; medians reported.
 *
 * Usage: npm run bench:pull [-- --images 4 --rounds 3 --layer-mib 12 --layers uncompressed|original]
 */
import { rmSync, statSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startRegistry } from '../test/support/registry.js';
import { alternateRounds, figures, fmt, measure, MiB, numberArg, requireTools, type Run } from './lib/measure.js';
import { pushRealisticImages } from './lib/sample-images.js';

const AIRPACK = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../../bin/airpack.js');
const ARCHES = ['amd64', 'arm64'] as const;
const LAYERS = process.argv.includes('--layers') ? String(process.argv[process.argv.indexOf('--layers') + 1]) : 'uncompressed';

async function main(): Promise<void> {
  requireTools(['/usr/bin/time', '/usr/bin/skopeo', '/usr/bin/docker-registry']);
  const count = numberArg('images', 4);
  const rounds = numberArg('rounds', 3);
  const layerBytes = numberArg('layer-mib', 12) * MiB;
  const work = await mkdtemp(join(tmpdir(), 'airpack-bench-pull-'));
  const registry = await startRegistry();
  try {
    process.stderr.write(`pushing ${count} images x ${ARCHES.length} architectures x 3 layers of ~${layerBytes / MiB} MiB...\n`);
    const images = await pushRealisticImages(registry, { count, architectures: ARCHES, layersPerImage: 3, layerBytes });
    const compressed = images.reduce((n, i) => n + i.compressed, 0);
    const uncompressed = images.reduce((n, i) => n + i.uncompressed, 0);
    process.stderr.write(`pushed: ${fmt(compressed / MiB, 1)} MiB compressed, ${fmt(uncompressed / MiB, 1)} MiB uncompressed\n`);

    const runAirpack = async (): Promise<Run> => {
      let seconds = 0;
      let rss = 0;
      let bytes = 0;
      for (const arch of ARCHES) {
        const out = join(work, `airpack-${arch}.tar`);
        const m = await measure('node', [AIRPACK, 'pull', ...images.map((i) => i.ref), '-p', `linux/${arch}`, '--layers', LAYERS, '-o', out, '--quiet']);
        seconds += m.seconds;
        rss = Math.max(rss, m.maxRssMiB);
        bytes += statSync(out).size;
        rmSync(out);
      }
      return { m: { seconds, maxRssMiB: rss }, bytes };
    };

    const runSkopeo = async (): Promise<Run> => {
      let seconds = 0;
      let rss = 0;
      let bytes = 0;
      for (const arch of ARCHES) {
        for (const image of images) {
          const out = join(work, `skopeo-${arch}.tar`);
          const m = await measure('skopeo', ['copy', '-q', '--override-arch', arch, '--override-os', 'linux', '--src-tls-verify=false', `docker://${image.ref}`, `docker-archive:${out}:${image.ref}`]);
          seconds += m.seconds;
          rss = Math.max(rss, m.maxRssMiB);
          bytes += statSync(out).size;
          rmSync(out);
        }
      }
      return { m: { seconds, maxRssMiB: rss }, bytes };
    };

    const { airpack: a, reference: s } = await alternateRounds(rounds, { airpack: runAirpack, reference: runSkopeo, referenceName: 'skopeo' });
    const result = {
      images: count,
      architectures: ARCHES,
      pulledCompressedMiB: Number(fmt(compressed / MiB, 1)),
      archiveUncompressedMiB: Number(fmt(uncompressed / MiB, 1)),
      rounds,
      layers: LAYERS,
      airpack: figures(a, 1),
      skopeo: figures(s, 1),
      ratio: { wall: Number(fmt(a.seconds / s.seconds, 3)), target: 0.5 },
      peakMemoryTargetMiB: 256,
    };
    console.log(`airpack pull --layers ${LAYERS}: ${fmt(a.seconds)} s, peak ${fmt(a.rss, 0)} MiB`);
    console.log(`skopeo copy docker-archive:          ${fmt(s.seconds)} s, peak ${fmt(s.rss, 0)} MiB`);
    console.log(`ratio airpack/skopeo wall time: ${fmt(a.seconds / s.seconds, 3)} (target <= 0.5); airpack peak RSS ${fmt(a.rss, 0)} MiB (target < 256)`);
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
