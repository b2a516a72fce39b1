/**
 * bench-push: `airpack push` of a bundle into a fresh loopback registry
 * against `skopeo copy` of the same images, one per image, out of an OCI
 * layout on disk (the same content, local on both sides), in one run,
 * alternating rounds. Then a second `airpack push` of the same bundle
 * (everything present), and `skopeo copy` out of `airpack serve` against
 * `skopeo copy` out of docker-registry holding the same images.
 *
 * Images: both sample sets (`--set disjoint|release|both`, see
 * scripts/lib/sample-images.ts), real binaries from this machine's /usr,
 * linux/amd64, layers gzip'd as a registry holds them; the bundle keeps
 * them byte for byte (`--layers original`), so both sides upload the same
 * blobs.
 *
 * Usage: npm run bench:push [-- --set both --images 4 --layer-mib 25 --scale 1 --rounds 3]
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startRegistry, type RegistryHandle } from '../test/support/registry.js';
import { freePort } from '../test/support/util.js';
import { alternateRounds, figures, fmt, measure, MiB, numberArg, requireTools, sequence, type Measurement, type Run } from './lib/measure.js';
import { pushSampleSet, sampleSets, type SampleSet } from './lib/sample-images.js';

const AIRPACK = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../../bin/airpack.js');

/** Steps run one after another, then summed as one side (lib/measure.ts `sequence`). */
async function sumOf(steps: Array<() => Promise<Measurement>>): Promise<Measurement> {
  const done: Measurement[] = [];
  for (const step of steps) done.push(await step());
  return sequence(done);
}

async function main(): Promise<void> {
  requireTools(['/usr/bin/time', '/usr/bin/skopeo', '/usr/bin/docker-registry', '/usr/bin/curl']);
  const rounds = numberArg('rounds', 3);
  const work = await mkdtemp(join(tmpdir(), 'airpack-bench-push-'));
  const source = await startRegistry();
  try {
    for (const set of sampleSets()) {
      const dir = join(work, set);
      mkdirSync(dir);
      await benchSet(source, set, dir, rounds);
    }
  } finally {
    await source.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

/** Push, push again and serve, for one sample set, its images pushed into `source` first. */
async function benchSet(source: RegistryHandle, set: SampleSet, work: string, rounds: number): Promise<void> {
  process.stderr.write(`[${set}] pushing the sample set (linux/amd64) to the source registry...\n`);
  const { images } = await pushSampleSet(source, set, { count: numberArg('images', 4), layerBytes: numberArg('layer-mib', 25) * MiB, architectures: ['amd64'] }, numberArg('scale', 1));
  const count = images.length;
  const compressed = images.reduce((n, i) => n + i.compressed, 0);
  const bundlePath = join(work, 'release.tar.zst');
  await measure('node', [AIRPACK, 'bundle', ...images.map((i) => i.ref), '-p', 'linux/amd64', '--layers', 'original', '--level', '3', '-o', bundlePath, '--quiet']);
  // skopeo's input: one OCI layout holding every image, the same blobs.
  const layout = join(work, 'layout');
  for (const image of images) {
    await measure('skopeo', ['copy', '-q', '--src-tls-verify=false', '--override-arch', 'amd64', `docker://${image.ref}`, `oci:${layout}:${image.repo}:${image.tag}`]);
  }
  process.stderr.write(`bundle: ${fmt(statSync(bundlePath).size / MiB, 1)} MiB (${fmt(compressed / MiB, 1)} MiB of gzip'd layers)\n`);

  let secondPush: Measurement | undefined;
  const runAirpack = async (): Promise<Run> => {
    const site = await startRegistry();
    try {
      const m = await measure('node', [AIRPACK, 'push', bundlePath, '--registry', site.host, '--quiet']);
      // Everything is there now: a rerun only asks.
      const again = await measure('node', [AIRPACK, 'push', bundlePath, '--registry', site.host, '--quiet']);
      if (!secondPush || again.seconds < secondPush.seconds) secondPush = again;
      return { m, bytes: compressed };
    } finally {
      await site.stop();
    }
  };
  const runSkopeo = async (): Promise<Run> => {
    const site = await startRegistry();
    try {
      const m = await sumOf(images.map((image) => () => measure('skopeo', ['copy', '-q', '--dest-tls-verify=false', `oci:${layout}:${image.repo}:${image.tag}`, `docker://${site.host}/${image.repo}:${image.tag}`])));
      return { m, bytes: compressed };
    } finally {
      await site.stop();
    }
  };
  process.stderr.write('push: airpack push of the bundle vs skopeo copy per image out of an OCI layout, each into a fresh registry\n');
  const push = await alternateRounds(rounds, { airpack: runAirpack, reference: runSkopeo, referenceName: 'skopeo' });

  // The registry's own floor: the same blobs sent by curl (no hashing, no reading of a bundle), four at
  // a time, one monolithic PUT each. No client can push faster than the registry takes the bytes.
  const blobs = readdirSync(join(layout, 'blobs', 'sha256'));
  const floorRuns: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const site = await startRegistry();
    try {
      const started = performance.now();
      const queue = [...blobs];
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          for (let hex = queue.shift(); hex !== undefined; hex = queue.shift()) await curlUpload(site.url, join(layout, 'blobs', 'sha256', hex), hex);
        }),
      );
      floorRuns.push((performance.now() - started) / 1000);
    } finally {
      await site.stop();
    }
  }
  const floor = [...floorRuns].sort((a, b) => a - b)[Math.floor(floorRuns.length / 2)]!;
  process.stderr.write(`floor: curl PUT of the same ${blobs.length} blobs, 4 at a time: ${floorRuns.map((x) => fmt(x)).join(', ')} s\n`);

  // Serving: skopeo copy out of airpack serve vs out of docker-registry holding the same images.
  const port = await freePort();
  const server = spawn('node', [AIRPACK, 'serve', bundlePath, '--addr', `127.0.0.1:${port}`, '--quiet'], { stdio: 'ignore' });
  try {
    await waitForServer(`http://127.0.0.1:${port}/v2/`);
    const pullFrom = (host: string) => async (): Promise<Run> => {
      const m = await sumOf(
        images.map((image) => async () => {
          const out = join(work, 'pulled');
          const r = await measure('skopeo', ['copy', '-q', '--src-tls-verify=false', '--override-arch', 'amd64', `docker://${host}/${image.repo}:${image.tag}`, `dir:${out}`]);
          rmSync(out, { recursive: true, force: true });
          return r;
        }),
      );
      return { m, bytes: compressed };
    };
    process.stderr.write('serve: skopeo copy out of airpack serve vs out of docker-registry\n');
    const served = await alternateRounds(rounds, { airpack: pullFrom(`127.0.0.1:${port}`), reference: pullFrom(source.host), referenceName: 'docker-registry' });
    const result = {
      set,
      images: count,
      layersGzipMiB: Number(fmt(compressed / MiB, 1)),
      bundleMiB: Number(fmt(statSync(bundlePath).size / MiB, 1)),
      rounds,
      push: {
        airpack: figures(push.airpack),
        skopeo: figures(push.reference),
        ratio: Number(fmt(push.airpack.seconds / push.reference.seconds, 3)),
        targets: { ratio: 0.5, peakRssMiB: 256 },
        registryFloor: { curlSeconds: Number(fmt(floor)), skopeoOverFloor: Number(fmt(push.reference.seconds / floor, 3)), airpackOverFloor: Number(fmt(push.airpack.seconds / floor, 3)) },
      },
      secondPush: { wallSeconds: Number(fmt(secondPush!.seconds)), target: 1 },
      serve: { fromAirpack: figures(served.airpack), fromDockerRegistry: figures(served.reference), ratio: Number(fmt(served.airpack.seconds / served.reference.seconds, 3)), target: 1.2 },
    };
    console.log(`[${set}] push: airpack ${fmt(push.airpack.seconds)} s (peak ${fmt(push.airpack.rss, 0)} MiB), skopeo per image ${fmt(push.reference.seconds)} s: ratio ${fmt(push.airpack.seconds / push.reference.seconds, 3)} (target <= 0.5, peak < 256 MiB)`);
    console.log(`registry floor (curl, same blobs): ${fmt(floor)} s; skopeo ${fmt(push.reference.seconds / floor, 2)}x of it, airpack ${fmt(push.airpack.seconds / floor, 2)}x (0.5x skopeo is below the floor when skopeo < 2x it)`);
    console.log(`second push (all present): ${fmt(secondPush!.seconds)} s (target < 1)`);
    console.log(`skopeo copy from airpack serve ${fmt(served.airpack.seconds)} s, from docker-registry ${fmt(served.reference.seconds)} s: ratio ${fmt(served.airpack.seconds / served.reference.seconds, 3)} (target <= 1.2)`);
    console.log(JSON.stringify(result));
  } finally {
    server.kill('SIGTERM');
  }
}

/** One blob into `registryUrl` the plainest way: POST for an upload, then curl -T streams the file in one PUT. */
async function curlUpload(registryUrl: string, file: string, hex: string): Promise<void> {
  const started = await fetch(`${registryUrl}/v2/floor/blobs/uploads/`, { method: 'POST' });
  const location = new URL(started.headers.get('location')!, registryUrl);
  location.searchParams.set('digest', `sha256:${hex}`);
  await new Promise<void>((resolve, reject) => {
    const curl = spawn('curl', ['-sf', '-o', '/dev/null', '-X', 'PUT', '-H', 'Content-Type: application/octet-stream', '-T', file, location.href], { stdio: 'ignore' });
    curl.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`curl PUT ${file}: exit ${code}`))));
  });
}

async function waitForServer(url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url}: the server did not come up`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
