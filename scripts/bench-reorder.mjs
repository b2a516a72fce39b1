#!/usr/bin/env node
/**
 * Benchmark: reorderTar vs rke2's two bsdtar passes on a generated
 * docker-save-shaped tarball (layer dirs, OCI blobs, symlinks, manifest.json
 * and repositories last).
 *
 *   npx tsc -p tsconfig.json && node scripts/bench-reorder.mjs [--size-mb 300] [--runs 5] [--dist dist] [--dir /dev/shm] [--keep]
 *
 * Each tool runs as its own process (node start-up included), page cache
 * warm, `sync` between runs so one run's write-back does not land in the
 * next. Prints median wall times, max RSS (via /usr/bin/time -v when
 * present) and checks both outputs list manifest.json first.
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

const work = await mkdtemp(join(baseDir, 'airpack-bench-reorder-'));
const tree = join(work, 'tree');
const input = join(work, 'docker-save.tar');

/** docker-save (pre-25) layout plus OCI blobs; ~sizeMb MiB of layer data over 3 images. */
async function generate() {
  await mkdir(join(tree, 'blobs', 'sha256'), { recursive: true });
  const names = [];
  const layerSizes = [];
  // A realistic spread: a few big layers, many small ones.
  const pattern = [48, 24, 12, 6, 3, 1, 0.5, 0.25, 0.1, 0.05];
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

try {
  console.log(`generating ~${sizeMb} MiB docker-save-shaped tar in ${work} ...`);
  await generate();
  const inSize = (await stat(input)).size;
  console.log(`input: ${(inSize / 1024 / 1024).toFixed(1)} MiB, ${execFileSync('bsdtar', ['-tf', input], { encoding: 'utf8' }).split('\n').length - 1} entries`);
  execFileSync('bash', ['-c', `cat ${JSON.stringify(input)} > /dev/null`]);

  const outB = join(work, 'out-bsdtar.tar');
  const outO = join(work, 'out-airpack.tar');
  const outS = join(work, 'out-airpack-stdin.tar');
  const times = { bsdtar: [], pass1: [], pass2: [], airpack: [], stdin: [] };
  for (let i = 0; i < runs; i++) {
    await rm(outB, { force: true });
    const b = bsdtarTwoPass(outB, false);
    times.bsdtar.push(b.ms);
    times.pass1.push(b.pass1);
    times.pass2.push(b.pass2);
    await rm(outO, { force: true });
    times.airpack.push(ours(input, outO, false).ms);
    await rm(outS, { force: true });
    times.stdin.push(ours('-', outS, false, input).ms);
  }
  await rm(outB, { force: true });
  const rssB = bsdtarTwoPass(outB, true).rss;
  const rssO = ours(input, outO, true).rss;
  const rssS = ours('-', outS, true, input).rss;

  for (const out of [outB, outO, outS]) {
    const first = execFileSync('bsdtar', ['-tf', out], { encoding: 'utf8' }).split('\n')[0];
    if (first !== 'manifest.json') throw new Error(`${out}: first entry ${first}`);
  }
  const mB = median(times.bsdtar);
  const mO = median(times.airpack);
  const mS = median(times.stdin);
  const fmt = (ms) => `${(ms / 1000).toFixed(3)} s`;
  console.log(`runs: ${runs} (median wall time, each tool a fresh process)`);
  console.log(`bsdtar two passes : ${fmt(mB)} (pass 1 ${fmt(median(times.pass1))}, pass 2 ${fmt(median(times.pass2))}), max RSS ${rssB} KiB, output ${(await stat(outB)).size} B`);
  console.log(`airpack reorderTar: ${fmt(mO)} = ${(mO / mB).toFixed(2)}x of bsdtar, max RSS ${rssO} KiB, output ${(await stat(outO)).size} B`);
  console.log(`airpack from a pipe on stdin (stream, spill, rewrite): ${fmt(mS)} = ${(mS / mB).toFixed(2)}x of bsdtar, max RSS ${rssS} KiB`);
  console.log(`all runs (ms): ${JSON.stringify(Object.fromEntries(Object.entries(times).map(([k, v]) => [k, v.map((x) => Math.round(x))])))}`);
} finally {
  if (!keep) await rm(work, { recursive: true, force: true });
  else console.log(`kept ${work}`);
}
