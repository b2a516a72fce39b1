/**
 * Helpers for the interop table (test/interop.test.ts): run the CLI and the
 * reference tools as child processes, copy an entry and flip one byte of its
 * largest blob, and make archives with the real tools on this machine
 * (skopeo, podman, containerd's ctr) from the deterministic fixtures.
 *
 * Nothing here uses src/: the code under test is only ever run as a program.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, cp, mkdir, open, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import pLimit from 'p-limit';
import { startContainerd } from './containerd.js';
import { seedStandardImages, type StandardFixtures } from './fixtures.js';
import { startBlobServer } from './foreign-server.js';
import { startRegistry } from './registry.js';
import type { RunResult } from './util.js';

/** ../shared/interop beside the repository, where CI and every session have it (read-only: copy before changing). */
export const INTEROP_DIR = fileURLToPath(new URL('../../../shared/interop', import.meta.url));
export const AIRPACK_BIN = fileURLToPath(new URL('../../bin/airpack.js', import.meta.url));

/**
 * Child processes at once, across every test of the file: each airpack run
 * is ~0.25 s of CPU (Node start-up), so more than a core and a half of them
 * only queue in the kernel.
 */
const limit = pLimit(Math.max(2, Math.min(4, availableParallelism() + 1)));

/** Runs a program to completion (never rejects on a non-zero exit); at most a few at once. */
export function runTool(cmd: string, args: readonly string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return limit(
    () =>
      new Promise<RunResult>((resolve, reject) => {
        const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
        child.stdout.on('data', (d: Buffer) => out.push(d));
        child.stderr.on('data', (d: Buffer) => err.push(d));
        child.on('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
        child.on('close', (code, signal) => {
          clearTimeout(timer);
          resolve({
            code: code ?? (signal === 'SIGPIPE' ? 141 : 128),
            stdout: Buffer.concat(out).toString('utf8'),
            stderr: Buffer.concat(err).toString('utf8'),
          });
        });
      }),
  );
}

/** No credentials from the host, no progress drawing. */
const AIRPACK_ENV = { DOCKER_CONFIG: '/nonexistent', REGISTRY_AUTH_FILE: '/nonexistent', CI: '1' };

/** `node bin/airpack.js ARGS...` */
export function airpack(args: readonly string[]): Promise<RunResult> {
  return runTool(process.execPath, [AIRPACK_BIN, ...args], { env: AIRPACK_ENV });
}

/** A shell pipeline (for `airpack ls X | head -1`); the exit code is airpack's (bash pipefail, first stage). */
export function airpackPiped(args: readonly string[], into: string): Promise<RunResult & { airpackCode: number }> {
  const quoted = [process.execPath, AIRPACK_BIN, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return runTool('bash', ['-c', `${quoted} | ${into}; echo "airpack-exit=\${PIPESTATUS[0]}" >&2`], { env: AIRPACK_ENV }).then((r) => {
    const m = /airpack-exit=(\d+)/.exec(r.stderr);
    return { ...r, stderr: r.stderr.replace(/airpack-exit=\d+\n?/, ''), airpackCode: m ? Number(m[1]) : -1 };
  });
}

export const sha256 = (data: Buffer | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

// ---------------------------------------------------------------------------
// Tar files, read by header offsets (independently of airpack's reader)

export interface TarMember {
  name: string;
  /** ustar typeflag: '0' file, '2' symlink, '5' directory, ... */
  type: string;
  linkname: string;
  size: number;
  /** Offset of the entry's data in the (uncompressed) file. */
  dataOffset: number;
}

function octal(buf: Buffer, off: number, len: number): number {
  if ((buf[off]! & 0x80) !== 0) {
    // GNU base-256
    let n = 0;
    for (let i = off + 1; i < off + len; i++) n = n * 256 + buf[i]!;
    return n;
  }
  const s = buf.toString('latin1', off, off + len).replace(/\0.*$/s, '').trim();
  return s === '' ? 0 : parseInt(s, 8);
}

const cstr = (buf: Buffer, off: number, len: number): string => buf.toString('utf8', off, off + len).replace(/\0.*$/s, '');

/** The members of a plain tar, with data offsets; pax `path`/`linkpath` and GNU long names applied. */
export function tarMembers(tar: Buffer): TarMember[] {
  const out: TarMember[] = [];
  let pos = 0;
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax: Record<string, string> = {};
  while (pos + 512 <= tar.length) {
    const h = tar.subarray(pos, pos + 512);
    if (h.every((b) => b === 0)) break;
    const size = octal(h, 124, 12);
    const type = String.fromCharCode(h[156]! || 0x30);
    const data = pos + 512;
    const next = data + Math.ceil(size / 512) * 512;
    if (type === 'x') {
      const text = tar.toString('utf8', data, data + size);
      for (const m of text.matchAll(/^\d+ ([^=]+)=(.*)$/gm)) pax[m[1]!] = m[2]!;
    } else if (type === 'L') {
      longName = cstr(tar, data, size);
    } else if (type === 'K') {
      longLink = cstr(tar, data, size);
    } else if (type !== 'g') {
      const prefix = h.toString('latin1', 257, 262) === 'ustar' ? cstr(h, 345, 155) : '';
      const name = pax.path ?? longName ?? (prefix ? `${prefix}/${cstr(h, 0, 100)}` : cstr(h, 0, 100));
      out.push({ name, type, linkname: pax.linkpath ?? longLink ?? cstr(h, 157, 100), size: pax.size ? Number(pax.size) : size, dataOffset: data });
      pax = {};
      longName = undefined;
      longLink = undefined;
    }
    pos = next;
  }
  return out;
}

const METADATA = new Set(['manifest.json', 'index.json', 'repositories', 'oci-layout']);
const norm = (name: string): string => name.replace(/^(\.\/)+/, '');

/** Entry names of a tar (plain or gzip), in order: for comparing an archive with its reordered copy. */
export async function tarNames(path: string): Promise<string[]> {
  let data = await readFile(path);
  if (data[0] === 0x1f && data[1] === 0x8b) data = gunzipSync(data);
  return tarMembers(data).map((m) => m.name);
}

/** A plain-tar copy of a gzip tar (skopeo 1.9's docker-archive reads no compressed tars); other files as they are. */
export async function plainTarOf(path: string, tmp: string): Promise<string> {
  const data = await readFile(path);
  if (!(data[0] === 0x1f && data[1] === 0x8b)) return path;
  const out = join(tmp, `${basename(path).replace(/\.gz$/, '')}`);
  await writeFile(out, gunzipSync(data));
  return out;
}

// ---------------------------------------------------------------------------
// Damage

export interface Corrupted {
  /** The damaged copy (same base name as the entry). */
  path: string;
  /** The file or tar entry that was changed, as named in the layout/tar. */
  member: string;
  /** sha256 of that blob before the change. */
  digest: string;
}

async function largestBlobFile(root: string): Promise<{ file: string; size: number } | undefined> {
  let best: { file: string; size: number } | undefined;
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) {
        const { size } = await stat(p);
        if (!best || size > best.size) best = { file: p, size };
      }
    }
  };
  await walk(join(root, 'blobs'));
  return best;
}

/**
 * Copies an entry (tar, gzip tar or layout directory) into `tmp` and flips one
 * byte in the middle of its largest blob: for a directory the largest file
 * under blobs/, for a tar the largest regular member that is not metadata
 * (a `blobs/sha256/…` blob or a docker-save `<id>/layer.tar`). A gzip tar is
 * decompressed, damaged and compressed again.
 */
export async function corruptLargestBlob(src: string, tmp: string): Promise<Corrupted> {
  const dst = join(tmp, basename(src));
  if ((await stat(src)).isDirectory()) {
    await cp(src, dst, { recursive: true });
    const best = await largestBlobFile(dst);
    if (!best) throw new Error(`${src}: no blobs to damage`);
    await chmod(best.file, 0o644);
    const before = await readFile(best.file);
    const fh = await open(best.file, 'r+');
    try {
      const at = Math.floor(best.size / 2);
      await fh.write(Buffer.from([before[at]! ^ 0xff]), 0, 1, at);
    } finally {
      await fh.close();
    }
    return { path: dst, member: best.file.slice(dst.length + 1), digest: sha256(before) };
  }
  const raw = await readFile(src);
  const gz = raw[0] === 0x1f && raw[1] === 0x8b;
  const tar = Buffer.from(gz ? gunzipSync(raw) : raw);
  const members = tarMembers(tar).filter((m) => (m.type === '0' || m.type === '7') && !METADATA.has(norm(m.name)) && m.size > 0);
  const best = members.reduce<TarMember | undefined>((a, m) => (!a || m.size > a.size ? m : a), undefined);
  if (!best) throw new Error(`${src}: no blobs to damage`);
  const digest = sha256(tar.subarray(best.dataOffset, best.dataOffset + best.size));
  const at = best.dataOffset + Math.floor(best.size / 2);
  tar[at] = tar[at]! ^ 0xff;
  await writeFile(dst, gz ? gzipSync(tar) : tar);
  return { path: dst, member: best.name, digest };
}

// ---------------------------------------------------------------------------
// Archives derived from interop entries, in shapes other tools write

/**
 * The shape `crane pull` (go-containerregistry tarball.Write) writes: config
 * stored as `sha256:<hex>`, layers as `<digest hex>.tar.gz`, manifest.json
 * last; built from ggcr-tarball-test_image_1.tar's config and layer.
 */
export async function makeCraneTarball(out: string): Promise<void> {
  const tar = await readFile(join(INTEROP_DIR, 'ggcr-tarball-test_image_1.tar'));
  const members = tarMembers(tar);
  const body = (suffix: string): Buffer => {
    const m = members.find((x) => x.name.endsWith(suffix));
    if (!m) throw new Error(`ggcr-tarball-test_image_1.tar: no ${suffix}`);
    return tar.subarray(m.dataOffset, m.dataOffset + m.size);
  };
  const config = body('.json');
  const layer = gzipSync(body('/layer.tar'));
  const layerHex = sha256(layer).slice(7);
  const manifest = JSON.stringify([{ Config: sha256(config), RepoTags: ['example.com/crane/img:v1'], Layers: [`${layerHex}.tar.gz`] }]);
  await writeTar(out, [
    [sha256(config), config],
    [`${layerHex}.tar.gz`, layer],
    ['manifest.json', Buffer.from(manifest)],
  ]);
}

/** A minimal ustar writer: regular files only, names under 100 bytes. */
export async function writeTar(out: string, files: ReadonlyArray<[string, Buffer]>): Promise<void> {
  const parts: Buffer[] = [];
  for (const [name, data] of files) {
    const h = Buffer.alloc(512);
    h.write(name, 0, 100, 'utf8');
    h.write('0000644\0', 100);
    h.write('0000000\0', 108);
    h.write('0000000\0', 116);
    h.write(`${data.length.toString(8).padStart(11, '0')}\0`, 124);
    h.write('00000000000\0', 136);
    h.write('        ', 148);
    h.write('0', 156);
    h.write('ustar\0' + '00', 257, 'latin1');
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    parts.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  await writeFile(out, Buffer.concat(parts));
}

/** `tar -C DIR -cf OUT .`: every entry name starts with `./`, as oras' prefixed-path fixture has them. */
export async function tarDotPrefixed(dir: string, out: string): Promise<void> {
  const res = await runTool('tar', ['--sort=name', '--owner=0', '--group=0', '--mtime=@0', '-C', dir, '-cf', out, '.']);
  if (res.code !== 0) throw new Error(`tar -C ${dir} -cf ${out} . exited ${res.code}: ${res.stderr}`);
}

// ---------------------------------------------------------------------------
// Archives made by the real tools, from the deterministic fixtures

export interface RealToolArchives {
  /** The loopback registry they were pulled from ("127.0.0.1:PORT"): part of the names in them. */
  host: string;
  fx: StandardFixtures;
  dir: string;
  /** What each tool printed, for a failing beforeAll. */
  log: string[];
}

async function must(what: string, p: Promise<RunResult>, log: string[]): Promise<void> {
  const r = await p;
  log.push(`${what}: exit ${r.code} ${r.stderr.trim().split('\n').slice(-1)[0] ?? ''}`);
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
}

/**
 * Starts docker-registry with the standard fixtures and writes, into `dir`:
 * - skopeo-tags.tar: `skopeo copy … docker-archive:` with two `--additional-tag`s (3 RepoTags);
 * - skopeo-digest.tar: `skopeo copy docker://…@sha256 docker-archive:` (no RepoTags);
 * - skopeo-zstd-oci/: `skopeo copy --dest-compress-format zstd --dest-compress … oci:DIR:app:1`, and multi:1.0 with --all;
 * - podman-multi.tar: `podman save --multi-image-archive` of two images;
 * - podman-oci.tar: `podman save --format oci-archive`;
 * - ctr-one.tar, ctr-two.tar: `ctr images export` of one and of two images;
 * - ctr-multi-all.tar: `ctr images export --all-platforms` of the multi-arch index (with attestations);
 * - ctr-dockerlist-host.tar: `ctr images export` of a docker manifest list pulled for the host only (a sparse index).
 * The registry and containerd are stopped before it returns.
 */
export async function makeRealToolArchives(dir: string): Promise<RealToolArchives> {
  const log: string[] = [];
  const [registry, blobServer] = await Promise.all([startRegistry(), startBlobServer()]);
  try {
    const fx = await seedStandardImages(registry, blobServer);
    const host = registry.host;
    const skopeo = async (): Promise<void> => {
      const copy = (args: string[]) => runTool('skopeo', ['copy', '-q', '--src-tls-verify=false', ...args], { timeoutMs: 120_000 });
      await must(
        'skopeo copy --additional-tag',
        copy([`docker://${fx.single.ref}`, `docker-archive:${dir}/skopeo-tags.tar:example.com/app:1`, '--additional-tag', 'example.com/app:latest', '--additional-tag', 'other.io/x/app:v1']),
        log,
      );
      await must('skopeo copy by digest', copy([`docker://${host}/library/single@${fx.single.manifest.digest}`, `docker-archive:${dir}/skopeo-digest.tar`]), log);
      const zstd = ['--dest-compress-format', 'zstd', '--dest-compress'];
      await must('skopeo copy zstd', copy([...zstd, `docker://${fx.single.ref}`, `oci:${dir}/skopeo-zstd-oci:app:1`]), log);
      await must('skopeo copy --all zstd', copy(['--all', ...zstd, `docker://${fx.multi.ref}`, `oci:${dir}/skopeo-zstd-oci:multi:1.0`]), log);
    };
    const podman = async (): Promise<void> => {
      const base = ['--storage-driver', 'vfs', '--root', join(dir, '.podman', 'root'), '--runroot', join(dir, '.podman', 'run')];
      const p = (args: string[]) => runTool('podman', [...base, ...args], { timeoutMs: 120_000 });
      await must('podman pull', p(['pull', '-q', '--tls-verify=false', fx.single.ref, fx.sharedA.ref]), log);
      await must('podman save --multi-image-archive', p(['save', '-q', '--multi-image-archive', '-o', join(dir, 'podman-multi.tar'), fx.single.ref, fx.sharedA.ref]), log);
      await must('podman save --format oci-archive', p(['save', '-q', '--format', 'oci-archive', '-o', join(dir, 'podman-oci.tar'), fx.single.ref]), log);
    };
    const ctr = async (): Promise<void> => {
      const c = await startContainerd();
      try {
        // content fetch: no unpack (the attestation manifests' in-toto layers cannot be unpacked).
        const fetch = (ref: string, all = false) => c.ctr(['content', 'fetch', '--plain-http', ...(all ? ['--all-platforms'] : []), ref]);
        await must('ctr content fetch single', fetch(fx.single.ref), log);
        await must('ctr content fetch shared-a', fetch(fx.sharedA.ref), log);
        await must('ctr content fetch --all-platforms multi', fetch(fx.multi.ref, true), log);
        await must('ctr content fetch dockerlist (host platform)', fetch(fx.dockerlist.ref), log);
        await must('ctr images export one', c.ctr(['images', 'export', join(dir, 'ctr-one.tar'), fx.single.ref]), log);
        await must('ctr images export two', c.ctr(['images', 'export', join(dir, 'ctr-two.tar'), fx.single.ref, fx.sharedA.ref]), log);
        await must('ctr images export --all-platforms', c.ctr(['images', 'export', '--all-platforms', join(dir, 'ctr-multi-all.tar'), fx.multi.ref]), log);
        await must('ctr images export (host only)', c.ctr(['images', 'export', join(dir, 'ctr-dockerlist-host.tar'), fx.dockerlist.ref]), log);
      } finally {
        await c.stop();
      }
    };
    await mkdir(dir, { recursive: true });
    // All three run to the end (containerd is stopped) before a failure is reported.
    const failed = (await Promise.allSettled([skopeo(), podman(), ctr()])).find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return { host, fx, dir, log };
  } finally {
    await Promise.all([registry.stop(), blobServer.stop()]);
  }
}
