#!/usr/bin/env node
/**
 * Benchmark: reorder vs rke2's two bsdtar passes on generated
 * docker-save-shaped tarballs (layer dirs, OCI blobs, symlinks, manifest.json
 * and repositories last), in five shapes (`--shape`, default all):
 * - few-big: seven layers of 48 MiB (release images: one big binary layer each);
 * - mixed: a few big layers and many small ones;
 * - many-small: thousands of layers of about 100 KiB (entries, not bytes, cost);
 * - disjoint, release: the two sample sets of every benchmark
 *   (scripts/lib/sample-images.ts), pushed to a loopback docker-registry,
 *   pulled with `airpack pull --layers uncompressed` and written again by
 *   GNU tar with the metadata last, as docker save orders it.
 *
 *   npm run bench:reorder -- [--shape all|few-big|mixed|many-small|disjoint|release] [--size-mb 300] [--runs 5] [--dist dist] [--dir /dev/shm] [--keep]
 *
 * Each tool runs as its own process (node start-up included), alternating,
 * page cache warm, `sync` between runs so one run's write-back does not land
 * in the next. airpack runs as the CLI (`airpack reorder IN -o OUT`), as the
 * library call in a bare node process, and from a pipe. Prints median wall
 * times, max RSS (via /usr/bin/time -v when present) and checks every output
 * lists manifest.json first.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdir, mkdtemp, open, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dist, flag, opt, timeBin } from './lib/bench-options.mjs';

const sizeMb = Number(opt('size-mb', '300'));
const runs = Number(opt('runs', '5'));
const keep = flag('keep');
// --dir /dev/shm runs on tmpfs: no disk write-back noise, just CPU and memory bandwidth.
const baseDir = opt('dir', tmpdir());
const SHAPES = { 'few-big': [48], mixed: [48, 24, 12, 6, 3, 1, 0.5, 0.25, 0.1, 0.05], 'many-small': [0.1] };
const SETS = ['disjoint', 'release'];
const shapeArg = opt('shape', 'all');
const shapes = shapeArg === 'all' ? [...Object.keys(SHAPES), ...SETS] : [shapeArg];
for (const s of shapes) if (!(s in SHAPES) && !SETS.includes(s)) throw new Error(`--shape expected all, ${[...Object.keys(SHAPES), ...SETS].join(', ')}; found ${s}`);

const work = await mkdtemp(join(baseDir, 'airpack-bench-reorder-'));
const tree = join(work, 'tree');
const input = join(work, 'docker-save.tar');
const cli = join(dist, '..', 'bin', 'airpack.js');

/** docker-save (pre-25) layout plus OCI blobs; ~sizeMb MiB of layer data over 3 images, layer sizes cycling through `pattern` (MiB). */
async function generate(pattern) {
  await rm(tree, { recursive: true, force: true });
  await rm(input, { force: true });
  await mkdir(join(tree, 'blobs', 'sha256'), { recursive: true });
  const names = [];
  const layerSizes = [];
  let total = 0;
  for (let i = 0; total < sizeMb * 1024 * 1024; i++) {
    const s = Math.round((pattern[i % pattern.length] ?? 1) * 1024 * 1024) + i * 517;
    layerSizes.push(s);
    total += s;
  }
  const buf = Buffer.allocUnsafe(8 * 1024 * 1024);
  for (const [i, size] of layerSizes.entries()) {
    const hex = i.toString(16).padStart(64, '0');
    await mkdir(join(tree, hex));
    await writeFile(join(tree, hex, 'VERSION'), '1.0');
    await writeFile(join(tree, hex, 'json'), JSON.stringify({ id: hex, created: '1970-01-01T00:00:00Z' }));
    const fh = await open(join(tree, hex, 'layer.tar'), 'w');
    for (let left = size; left > 0; ) {
      const n = Math.min(left, buf.length);
      randomFillSync(buf, 0, n);
      await fh.write(buf, 0, n);
      left -= n;
    }
    await fh.close();
    await symlink(`../../${hex}/layer.tar`, join(tree, 'blobs', 'sha256', hex));
    names.push(hex);
  }
  const configs = [];
  for (let img = 0; img < 3; img++) {
    const cfg = `${(0xc0 + img).toString(16).padStart(64, 'c')}.json`;
    await writeFile(join(tree, cfg), JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: names } }));
    configs.push(cfg);
  }
  await writeFile(
    join(tree, 'manifest.json'),
    JSON.stringify(configs.map((c, i) => ({ Config: c, RepoTags: [`example.com/img${i}:v1`], Layers: names.map((n) => `${n}/layer.tar`) }))),
  );
  await writeFile(join(tree, 'repositories'), JSON.stringify({ 'example.com/img0': { v1: names[0] } }));
  // GNU tar, metadata last, as docker save orders it.
  execFileSync('tar', ['--format=pax', '-cf', input, '-C', tree, 'blobs', ...names, ...configs, 'manifest.json', 'repositories']);
  await rm(tree, { recursive: true, force: true });
}

/** A sample set's images as one tar, metadata last: pushed, pulled by airpack, written again by GNU tar. */
async function generateFromSet(set) {
  await rm(tree, { recursive: true, force: true });
  await rm(input, { force: true });
  // The sample sets and the registry harness are TypeScript, built by `npm run build:scripts`.
  const build = join(dist, '..', 'build');
  const { startRegistry } = await import(join(build, 'test', 'support', 'registry.js'));
  const { pushSampleSet } = await import(join(build, 'scripts', 'lib', 'sample-images.js'));
  const registry = await startRegistry();
  try {
    const pushed = await pushSampleSet(registry, set, { count: 4, layerBytes: 25 * 1024 * 1024, architectures: ['amd64'] }, 1);
    const pulled = join(work, 'pulled.tar');
    execFileSync('node', [cli, 'pull', ...pushed.images.map((i) => i.ref), '-p', 'linux/amd64', '--layers', 'uncompressed', '-o', pulled, '-q']);
    await mkdir(tree);
    execFileSync('bsdtar', ['-xf', pulled, '-C', tree]);
    await rm(pulled);
    execFileSync('tar', ['--format=pax', '-cf', input, '-C', tree, 'blobs', 'index.json', 'oci-layout', 'manifest.json']);
    await rm(tree, { recursive: true, force: true });
  } finally {
    await registry.stop();
  }
}

function run(cmd, argv, opts = {}) {
  spawnSync('sync');
  const t0 = process.hrtime.bigint();
  const useTime = timeBin && opts.measureRss;
  const r = useTime ? spawnSync(timeBin, ['-v', cmd, ...argv], { encoding: 'utf8', ...opts.spawn }) : spawnSync(cmd, argv, { encoding: 'utf8', ...opts.spawn });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  const rss = useTime ? Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)?.[1] ?? NaN) : NaN;
  return { ms, rss };
}

function bsdtarTwoPass(out, measureRss) {
  const a = run('bsdtar', ['-c', '-f', out, '--include=manifest.json', '--include=repositories', `@${input}`], { measureRss });
  const b = run('bsdtar', ['-r', '-f', out, '--exclude=manifest.json', '--exclude=repositories', `@${input}`], { measureRss });
  return { ms: a.ms + b.ms, rss: Math.max(a.rss, b.rss), pass1: a.ms, pass2: b.ms };
}

const ours = (src, out, measureRss, stdinFile) => {
  const code = `import(${JSON.stringify(join(dist, 'reorder', 'reorder.js'))}).then((m) => m.reorderTar(${src === '-' ? 'process.stdin' : JSON.stringify(src)}, ${JSON.stringify(out)})).catch((e) => { console.error(e); process.exit(1); });`;
  if (stdinFile) {
    // Stream input: a pipe into node's stdin (not seekable, so reorderTar streams and spills).
    return run('bash', ['-c', `cat ${JSON.stringify(stdinFile)} | node --input-type=module -e '${code.replace(/'/g, "'\\''")}'`], { measureRss });
  }
  return run('node', ['--input-type=module', '-e', code], { measureRss });
};

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (ms) => `${(ms / 1000).toFixed(3)} s`;

async function benchShape(shape) {
  if (SETS.includes(shape)) {
    console.log(`\n[${shape}] pushing the ${shape} sample set and pulling it into a docker-save-shaped tar in ${work} ...`);
    await generateFromSet(shape);
  } else {
    console.log(`\n[${shape}] generating ~${sizeMb} MiB docker-save-shaped tar in ${work} ...`);
    await generate(SHAPES[shape]);
  }
  const inSize = (await stat(input)).size;
  const entries = execFileSync('bsdtar', ['-tf', input], { encoding: 'utf8', maxBuffer: 64 << 20 }).split('\n').length - 1;
  console.log(`[${shape}] input: ${(inSize / 1024 / 1024).toFixed(1)} MiB, ${entries} entries`);
  execFileSync('bash', ['-c', `cat ${JSON.stringify(input)} > /dev/null`]);

  const outB = join(work, 'out-bsdtar.tar');
  const outO = join(work, 'out-airpack.tar');
  const outC = join(work, 'out-cli.tar');
  const outS = join(work, 'out-airpack-stdin.tar');
  const times = { bsdtar: [], pass1: [], pass2: [], cli: [], airpack: [], stdin: [] };
  const sides = [
    async () => {
      await rm(outB, { force: true });
      const b = bsdtarTwoPass(outB, false);
      times.bsdtar.push(b.ms);
      times.pass1.push(b.pass1);
      times.pass2.push(b.pass2);
    },
    async () => {
      await rm(outC, { force: true });
      times.cli.push(run('node', [cli, 'reorder', input, '-o', outC]).ms);
    },
    async () => {
      await rm(outO, { force: true });
      times.airpack.push(ours(input, outO, false).ms);
    },
    async () => {
      await rm(outS, { force: true });
      times.stdin.push(ours('-', outS, false, input).ms);
    },
  ];
  // Alternate who goes first, so page-cache and write-back state favour no one.
  for (let i = 0; i < runs; i++) for (const side of i % 2 === 0 ? sides : [...sides].reverse()) await side();
  await rm(outB, { force: true });
  const rssB = bsdtarTwoPass(outB, true).rss;
  const rssC = run('node', [cli, 'reorder', input, '-o', outC], { measureRss: true }).rss;
  const rssO = ours(input, outO, true).rss;
  const rssS = ours('-', outS, true, input).rss;

  for (const out of [outB, outO, outC, outS]) {
    const first = execFileSync('bsdtar', ['-tf', out], { encoding: 'utf8', maxBuffer: 64 << 20 }).split('\n')[0];
    if (first !== 'manifest.json') throw new Error(`${out}: first entry ${first}`);
  }
  const mB = median(times.bsdtar);
  const mC = median(times.cli);
  const mO = median(times.airpack);
  const mS = median(times.stdin);
  console.log(`[${shape}] ${runs} alternating runs (median wall time, each tool a fresh process)`);
  console.log(`  bsdtar two passes : ${fmt(mB)} (pass 1 ${fmt(median(times.pass1))}, pass 2 ${fmt(median(times.pass2))}), max RSS ${rssB} KiB, output ${(await stat(outB)).size} B`);
  console.log(`  airpack reorder (CLI): ${fmt(mC)} = **${(mC / mB).toFixed(2)}x** of bsdtar (target <= 0.9), max RSS ${rssC} KiB`);
  console.log(`  airpack reorderTar (library in a bare node): ${fmt(mO)} = ${(mO / mB).toFixed(2)}x of bsdtar, max RSS ${rssO} KiB, output ${(await stat(outO)).size} B`);
  console.log(`  airpack from a pipe on stdin (stream, spill, rewrite): ${fmt(mS)} = ${(mS / mB).toFixed(2)}x of bsdtar, max RSS ${rssS} KiB`);
  console.log(`  all runs (ms): ${JSON.stringify(Object.fromEntries(Object.entries(times).map(([k, v]) => [k, v.map((x) => Math.round(x))])))}`);
  return { shape, entries, inputMiB: Number((inSize / 1024 / 1024).toFixed(1)), bsdtar: mB / 1000, cli: mC / 1000, library: mO / 1000, stdin: mS / 1000, ratio: Number((mC / mB).toFixed(3)), target: 0.9 };
}

try {
  const results = [];
  for (const shape of shapes) results.push(await benchShape(shape));
  console.log('\n| shape | entries | airpack reorder (CLI) | bsdtar two passes | ratio | target |');
  console.log('|---|---|---|---|---|---|');
  for (const r of results) console.log(`| ${r.shape} | ${r.entries} | ${r.cli.toFixed(3)} s | ${r.bsdtar.toFixed(3)} s | **${r.ratio}** | <= 0.9 |`);
  for (const r of results) console.log(JSON.stringify(r));
} finally {
  if (!keep) await rm(work, { recursive: true, force: true });
  else console.log(`kept ${work}`);
}
