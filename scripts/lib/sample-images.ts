/**
 * Sample images for the demo and the benchmarks, made of real binary content
 * (files from this machine's /usr), pushed into a loopback registry.
 *
 * `realisticImages` builds multi-arch images: each architecture gets its own
 * layer contents (different slices of the file list), so nothing is shared
 * across images or architectures unless asked for; tens of MB each.
 */
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
  /** Bytes per architecture: compressed (as pushed) and uncompressed. */
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

export { pushBlob };
