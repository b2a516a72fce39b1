#!/usr/bin/env node
/**
 * Benchmark: airpack's multi-frame zstd writer (level 16, long-distance
 * matching, frames side by side on worker threads reading the file
 * themselves, seek table) against `zstd -T0 -16 --long=25` on a ~300 MB tar
 * of real binaries from /usr/bin and /usr/lib, for several frame sizes.
 *
 *   npx tsc -p tsconfig.json && node scripts/bench-zstd.mjs [--size-mb 300] [--frames 32,64,128,256] [--level 16] [--dist dist] [--keep]
 *
 * Each run is its own process, timed wall-clock with max RSS from
 * /usr/bin/time -v. Every output is checked with `zstd -d --memory=32MB`
 * (rancher/wharfie's window cap) against the input's sha256.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dist, flag, opt, timeBin } from './lib/bench-options.mjs';

const sizeMb = Number(opt('size-mb', '300'));
const frameSizes = opt('frames', '32,64,128,256').split(',').map(Number);
const level = Number(opt('level', '16'));
const keep = flag('keep');
const withNoLong = flag('no-long-too');

const work = await mkdtemp(join(tmpdir(), 'airpack-bench-zstd-'));
const input = join(work, 'binaries.tar');

async function sha256File(path) {
  const h = createHash('sha256');
  for await (const c of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(c);
  return h.digest('hex');
}

function timed(cmd, argv, opts = {}) {
  spawnSync('sync');
  const t0 = process.hrtime.bigint();
  const r = timeBin ? spawnSync(timeBin, ['-v', cmd, ...argv], { encoding: 'utf8', ...opts }) : spawnSync(cmd, argv, { encoding: 'utf8', ...opts });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`${cmd} failed (${r.status}): ${r.stderr}`);
  const rss = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr ?? '')?.[1] ?? NaN);
  const cpu = Number(/User time \(seconds\): ([\d.]+)/.exec(r.stderr ?? '')?.[1] ?? NaN) + Number(/System time \(seconds\): ([\d.]+)/.exec(r.stderr ?? '')?.[1] ?? NaN);
  return { s, rss, cpu, stdout: r.stdout };
}

async function verify(zst, want) {
  // Decompress as wharfie would be allowed to: window at most 32 MiB.
  const r = spawnSync('bash', ['-c', `zstd -d -q -c --memory=32MB ${JSON.stringify(zst)} | sha256sum`], { encoding: 'utf8' });
  const got = r.stdout.split(' ')[0];
  return { ok: got === want, detail: r.status === 0 ? got : r.stderr.trim() };
}

try {
  console.log(`building a ~${sizeMb} MiB tar of /usr/bin + /usr/lib files in ${work} ...`);
  const files = execFileSync('bash', ['-c', 'find /usr/bin /usr/lib -xdev -type f -readable -size +0 2>/dev/null | LC_ALL=C sort'], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  })
    .split('\n')
    .filter(Boolean);
  const chosen = [];
  let total = 0;
  for (const f of files) {
    if (total >= sizeMb * 1024 * 1024) break;
    try {
      const st = await stat(f);
      if (st.size > 64 * 1024 * 1024) continue;
      chosen.push(f);
      total += st.size;
    } catch {
      // vanished or unreadable: skip
    }
  }
  await writeFile(join(work, 'files.txt'), chosen.join('\n'));
  execFileSync('tar', ['--format=pax', '-cf', input, '--files-from', join(work, 'files.txt')], { stdio: ['ignore', 'ignore', 'ignore'] });
  const inSize = (await stat(input)).size;
  const want = await sha256File(input);
  console.log(`input: ${(inSize / 1e6).toFixed(1)} MB, ${chosen.length} files, sha256 ${want.slice(0, 16)}...`);

  const rows = [];
  const ref = join(work, 'ref.zst');
  const cliRuns = [['-T0', `-${level}`, '--long=25']];
  if (withNoLong) cliRuns.push(['-T0', `-${level}`]);
  for (const flags of cliRuns) {
    await rm(ref, { force: true });
    const t = timed('zstd', ['-q', '-f', ...flags, input, '-o', ref]);
    const size = (await stat(ref)).size;
    rows.push({ what: `zstd ${flags.join(' ')}`, s: t.s, cpu: t.cpu, rss: t.rss, size, frames: 1, ok: (await verify(ref, want)).ok ? 'yes' : 'no (window > 32 MiB)' });
  }

  for (const mb of frameSizes) {
    const out = join(work, `airpack-${mb}.zst`);
    await rm(out, { force: true });
    const code = `
      import { statSync } from 'node:fs';
      import { writeZstdParts, FRAME_BOUNDARY } from ${JSON.stringify(join(dist, 'zstd', 'index.js'))};
      // A small first frame, like the bundle's metadata frame, then the rest in ${mb} MiB frames.
      const input = ${JSON.stringify(input)};
      const size = statSync(input).size;
      const parts = [{ path: input, offset: 0, size: 10240 }, FRAME_BOUNDARY, { path: input, offset: 10240, size: size - 10240 }];
      const idx = await writeZstdParts(parts, ${JSON.stringify(out)}, { level: ${level}, frameSize: ${mb} * 1024 * 1024 });
      console.log(JSON.stringify({ frames: idx.frames.length, size: idx.compressedSize }));
    `;
    const t = timed('node', ['--input-type=module', '-e', code]);
    const info = JSON.parse(t.stdout.trim().split('\n').pop());
    const v = await verify(out, want);
    rows.push({ what: `airpack ${mb} MiB frames`, s: t.s, cpu: t.cpu, rss: t.rss, size: info.size, frames: info.frames, ok: v.ok ? 'yes' : `NO: ${v.detail}` });
  }

  const base = rows[0];
  console.log(`\nlevel ${level}, input ${inSize} B, ${(await import('node:os')).availableParallelism()} cores (one frame per core)`);
  console.log('what                          wall s   cpu s   size B        ratio   vs zstd size  vs zstd time  frames  max RSS MiB  zstd -d --memory=32MB');
  for (const r of rows) {
    console.log(
      `${r.what.padEnd(29)} ${r.s.toFixed(1).padStart(6)} ${r.cpu.toFixed(1).padStart(7)}   ${String(r.size).padEnd(12)}  ${(inSize / r.size).toFixed(3)}   ${((r.size / base.size - 1) * 100).toFixed(2).padStart(6)}%      ${(r.s / base.s).toFixed(2)}x        ${String(r.frames).padStart(5)}  ${(r.rss / 1024).toFixed(0).padStart(8)}     ${r.ok}`,
    );
  }
} finally {
  if (!keep) await rm(work, { recursive: true, force: true });
  else console.log(`kept ${work}`);
}
