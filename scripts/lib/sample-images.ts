/**
 * Sample images for the demo and the benchmarks, made of real binary content
 * (files from this machine's /usr), pushed into a loopback registry. Two sets:
 *
 * - `pushRealisticImages`, the disjoint set: multi-arch images whose every
 *   layer is a different slice of the file list, so nothing is shared across
 *   images or architectures; tens of MB each.
 * - `pushReleaseImages`, the release-like set, shaped like rke2's image list
 *   (see `releaseImageSpecs`): images on one shared base layer, Kubernetes
 *   binaries built from one code base (each a large single file made of
 *   overlapping slices of common content), two versions of one image (the
 *   second a rebuild: the same bytes with small changes every 64 KiB), and
 *   one image far bigger than the rest.
 */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { childDescriptor, makeImage, makeIndex, makeLayer, pushBlob, pushImage, pushManifest, type Layer } from '../../test/support/fixtures.js';

/** Where the sample content comes from: big real binaries and libraries. */
export const SAMPLE_ROOTS: readonly string[] = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/jvm', '/usr/lib/gcc', '/usr/bin', '/usr/lib/llvm-14', '/usr/libexec'];

/** Regular files under the given roots, sorted, skipping unreadable ones and symlinks. */
export function listFiles(roots: readonly string[], minSize = 4096): Array<{ path: string; size: number }> {
  const out: Array<{ path: string; size: number }> = [];
  const walk = (dir: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const name of names) {
      const p = join(dir, name);
      let st;
      try {
        st = lstatSync(p, { throwIfNoEntry: false });
      } catch {
        continue;
      }
      if (!st) continue;
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && st.size >= minSize && st.size < 64 * 1024 * 1024) out.push({ path: p, size: st.size });
    }
  };
  for (const r of roots) walk(r);
  return out;
}

/** Consume files from `pool` until `bytes` are gathered; returns them as a layer's file map. */
export function takeFiles(pool: Array<{ path: string; size: number }>, bytes: number): Record<string, Buffer> {
  const files: Record<string, Buffer> = {};
  let total = 0;
  while (total < bytes && pool.length > 0) {
    const f = pool.shift()!;
    try {
      files[f.path.replace(/^\//, '')] = readFileSync(f.path);
      total += f.size;
    } catch {
      // unreadable (permissions): skip
    }
  }
  return files;
}

export interface SampleImage {
  repo: string;
  tag: string;
  ref: string;
  /** Layer bytes over all its architectures: compressed (as pushed) and uncompressed. */
  compressed: number;
  uncompressed: number;
}

/**
 * Push `count` images, each an OCI index over `architectures`, each child
 * with `layersPerImage` layers of about `layerBytes` uncompressed.
 */
export async function pushRealisticImages(
  registry: { url: string; host: string },
  opts: { count: number; architectures: readonly string[]; layersPerImage: number; layerBytes: number; roots?: readonly string[] },
): Promise<SampleImage[]> {
  const pool = listFiles(opts.roots ?? SAMPLE_ROOTS);
  const images: SampleImage[] = [];
  for (let i = 0; i < opts.count; i++) {
    const repo = `bench/app-${i}`;
    const children = [];
    let compressed = 0;
    let uncompressed = 0;
    for (const arch of opts.architectures) {
      const layers: Layer[] = [];
      for (let l = 0; l < opts.layersPerImage; l++) {
        const files = takeFiles(pool, opts.layerBytes);
        if (Object.keys(files).length === 0) throw new Error('ran out of sample files: lower the image count or layer size');
        layers.push(await makeLayer(files));
      }
      compressed += layers.reduce((n, l) => n + l.size, 0);
      uncompressed += layers.reduce((n, l) => n + l.tar.length, 0);
      const image = makeImage({ os: 'linux', architecture: arch, layers, manifestMediaType: 'oci', labels: { 'org.airpack.sample': repo } });
      await pushImage(registry.url, repo, image);
      children.push(childDescriptor(image));
    }
    const index = makeIndex('oci', children);
    await pushManifest(registry.url, repo, 'v1', index.body, index.mediaType);
    images.push({ repo, tag: 'v1', ref: `${registry.host}/${repo}:v1`, compressed, uncompressed });
  }
  return images;
}

/** One image of the release-like set, before it is built: its layers as file maps. */
export interface ReleaseImageSpec {
  repo: string;
  tag: string;
  layers: Array<Record<string, Buffer>>;
}

const MIB = 1024 * 1024;

/**
 * The machine's files read in order as one stream of real content, handed
 * out exactly: a file that does not fit is cut, and its rest comes next.
 */
class ContentPool {
  private readonly queue: Array<{ path: string; size: number }>;
  private current: { path: string; data: Buffer; offset: number } | undefined;

  constructor(roots: readonly string[]) {
    this.queue = listFiles(roots);
  }

  /** Exactly `bytes` bytes (fewer only when the machine runs out), as files named as on disk. */
  files(bytes: number): Record<string, Buffer> {
    const out: Record<string, Buffer> = {};
    let left = bytes;
    while (left > 0) {
      if (!this.current || this.current.offset >= this.current.data.length) {
        const next = this.queue.shift();
        if (!next) throw new Error('ran out of sample files for the release-like set: lower --scale');
        let data: Buffer;
        try {
          data = readFileSync(next.path);
        } catch {
          continue; // unreadable (permissions): skip
        }
        this.current = { path: next.path.replace(/^\//, ''), data, offset: 0 };
      }
      const c = this.current;
      const piece = c.data.subarray(c.offset, c.offset + left);
      out[c.offset === 0 ? c.path : `${c.path}.${c.offset}`] = piece;
      c.offset += piece.length;
      left -= piece.length;
    }
    return out;
  }

  /** Exactly `bytes` bytes as one buffer (a "binary" made of real machine code and data). */
  bytes(bytes: number): Buffer {
    return Buffer.concat(Object.values(this.files(bytes)));
  }
}

/** Deterministic choice: does `key` fall into a `percent`% share? */
function inShare(key: string, percent: number): boolean {
  return createHash('sha256').update(key).digest().readUInt16BE(0) % 100 < percent;
}

/**
 * A rebuilt binary: the same code with small changes spread through it (a
 * version string, shifted addresses), 16 bytes changed every 64 KiB. zstd
 * finds the rest as long matches when the two versions sit within its
 * window of each other.
 */
export function rebuilt(binary: Buffer, version: string): Buffer {
  const out = Buffer.from(binary);
  const mark = createHash('sha256').update(version).digest().subarray(0, 16);
  for (let off = 4096; off + 16 <= out.length; off += 64 * 1024) mark.copy(out, off);
  return out;
}

/**
 * The release-like set, about 330 MiB of layers at `scale` 1, modelled on
 * rke2's image list: a distroless-style base (8 MiB of libraries) under
 * seven of the eight images; kube-apiserver, -controller-manager, -proxy and
 * -scheduler each one Go-like binary of ~34 MiB drawn from a common 40 MiB
 * core (75% of its pieces, a different choice per binary) plus 4 MiB of
 * their own; kube-apiserver in two versions, the second a rebuild of the
 * first; etcd and coredns with binaries of their own; and a runtime image of
 * three 40 MiB layers, far bigger than the rest. Listed by name, as image
 * lists are. Deterministic for a given machine's /usr.
 */
export function releaseImageSpecs(scale = 1, roots: readonly string[] = SAMPLE_ROOTS): ReleaseImageSpec[] {
  const pool = new ContentPool(roots);
  const mib = (n: number): number => Math.round(n * scale * MIB);
  const base = pool.files(mib(8));
  const alpine = pool.files(mib(4));
  // The shared core as pieces of about 1 MiB, so each binary can take a different 75%.
  const corePieces: Buffer[] = [];
  for (let i = 0; i < 40; i++) corePieces.push(pool.bytes(mib(1)));
  const kubeBinary = (name: string): Buffer => {
    const own = pool.bytes(mib(4));
    const pieces = corePieces.filter((_, i) => inShare(`${name}:${i}`, 75));
    // Its own code sits in the middle of the shared code, as a linker would place it.
    const half = Math.floor(pieces.length / 2);
    return Buffer.concat([...pieces.slice(0, half), own, ...pieces.slice(half)]);
  };
  const kube = (name: string, binary: Buffer, tag: string, extra: Array<Record<string, Buffer>> = []): ReleaseImageSpec => ({
    repo: `rancher/${name}`,
    tag,
    layers: [base, ...extra, { [`usr/local/bin/${name}`]: binary }],
  });
  const apiserver = kubeBinary('kube-apiserver');
  const controllerManager = kubeBinary('kube-controller-manager');
  const proxy = kubeBinary('kube-proxy');
  const iptables = pool.files(mib(6));
  const scheduler = kubeBinary('kube-scheduler');
  const etcd = pool.bytes(mib(20));
  const coredns = pool.bytes(mib(14));
  const runtime = [pool.files(mib(40)), pool.files(mib(40)), pool.files(mib(40))];
  return [
    { repo: 'rancher/hardened-coredns', tag: 'v1.11.1', layers: [alpine, { 'usr/bin/coredns': coredns }] },
    { repo: 'rancher/hardened-etcd', tag: 'v3.5.13', layers: [base, { 'usr/local/bin/etcd': etcd }] },
    kube('kube-apiserver', apiserver, 'v1.31.1'),
    kube('kube-apiserver', rebuilt(apiserver, 'v1.31.2'), 'v1.31.2'),
    kube('kube-controller-manager', controllerManager, 'v1.31.1'),
    kube('kube-proxy', proxy, 'v1.31.1', [iptables]),
    kube('kube-scheduler', scheduler, 'v1.31.1'),
    { repo: 'rancher/rke2-runtime', tag: 'v1.31.1', layers: [base, ...runtime] },
  ];
}

/** Push the release-like set (linux/amd64 images, OCI manifests) and return them in list order. */
export async function pushReleaseImages(registry: { url: string; host: string }, opts: { scale?: number; roots?: readonly string[] } = {}): Promise<SampleImage[]> {
  const images: SampleImage[] = [];
  const built = new Map<Record<string, Buffer>, Layer>();
  for (const spec of releaseImageSpecs(opts.scale ?? 1, opts.roots)) {
    const layers: Layer[] = [];
    for (const files of spec.layers) {
      // A shared base is one layer, built once: the same bytes and digest in every image.
      let layer = built.get(files);
      if (!layer) built.set(files, (layer = await makeLayer(files)));
      layers.push(layer);
    }
    const image = makeImage({ os: 'linux', architecture: 'amd64', layers, manifestMediaType: 'oci', labels: { 'org.airpack.sample': `${spec.repo}:${spec.tag}` } });
    await pushImage(registry.url, spec.repo, image, spec.tag);
    images.push({
      repo: spec.repo,
      tag: spec.tag,
      ref: `${registry.host}/${spec.repo}:${spec.tag}`,
      compressed: layers.reduce((n, l) => n + l.size, 0),
      uncompressed: layers.reduce((n, l) => n + l.tar.length, 0),
    });
  }
  return images;
}

/** The sample sets every benchmark reports: `--set disjoint|release|both` (default both). */
export type SampleSet = 'disjoint' | 'release';

/** A pushed sample set: its images in list order and the architectures each has. */
export interface PushedSet {
  set: SampleSet;
  images: SampleImage[];
  architectures: readonly string[];
  /** Layer bytes as listed, uncompressed, summed over images and architectures (a shared layer once per image). */
  uncompressed: number;
}

/**
 * Push one sample set. The disjoint set's shape comes from the options every
 * bench shares (`--images`, `--layer-mib`, its `architectures`); the
 * release-like set is linux/amd64 and scales with `--scale`.
 */
export async function pushSampleSet(
  registry: { url: string; host: string },
  set: SampleSet,
  disjoint: { count: number; layerBytes: number; architectures: readonly string[]; layersPerImage?: number },
  scale = 1,
): Promise<PushedSet> {
  const architectures = set === 'release' ? ['amd64'] : disjoint.architectures;
  const images =
    set === 'release'
      ? await pushReleaseImages(registry, { scale })
      : await pushRealisticImages(registry, { count: disjoint.count, architectures, layersPerImage: disjoint.layersPerImage ?? 3, layerBytes: disjoint.layerBytes });
  return { set, images, architectures, uncompressed: images.reduce((n, i) => n + i.uncompressed, 0) };
}

export function sampleSets(argv: readonly string[] = process.argv): SampleSet[] {
  const i = argv.indexOf('--set');
  const v = i > 0 ? argv[i + 1] : 'both';
  if (v === 'both') return ['disjoint', 'release'];
  if (v === 'disjoint' || v === 'release') return [v];
  throw new Error(`--set expected disjoint, release or both, found ${v}`);
}

export { pushBlob };
