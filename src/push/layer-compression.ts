/**
 * Layers stored uncompressed (bundles made with `--layers uncompressed`, the
 * default, and docker save tars) go into a registry compressed again, as
 * every registry image is: gzip by default, zstd on request, `none` to push
 * the plain tars under the digests the bundle has.
 *
 * Deterministic: the same plain layer gives the same compressed bytes on
 * every run with the same airpack and Node (its bundled zlib; fixed level,
 * no timestamp or file name in the gzip header, one zstd thread), so a push run again finds
 * its blobs present and the digests it reported stay true. They are not the
 * digests the source registry had: those came from another compressor.
 *
 * gzip level 1: measured on 693 MB of real binaries, level 1 took 9.7 s for
 * 38.6% and level 6 took 22.0 s for 35.4% (crane writes level 1 too); zstd
 * level 3 took 5.9 s for 33.6%.
 *
 * zstd layers are OCI only (Docker's schema 2 has no zstd type, and
 * containers/image refuses one), so an image compressed with zstd becomes an
 * OCI image: manifest and config media types, and the index over it.
 */
import path from 'node:path';
import os from 'node:os';
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { Transform } from 'node:stream';
import { createGzip } from 'node:zlib';
import { CompressStream } from 'zstd-napi';
import pLimit from 'p-limit';
import { downloadBlob, type BlobSource } from '../blob/download.js';
import { compressingSink } from '../blob/sink.js';
import { scratchDirectory } from '../io/cleanup.js';
import { MediaType } from '../spec/media-types.js';
import type { Descriptor } from '../spec/types.js';
import type { ManifestEdit } from './rewrite-manifests.js';

export type LayerCompression = 'gzip' | 'zstd' | 'none';
export const LAYER_COMPRESSIONS: readonly LayerCompression[] = ['gzip', 'zstd', 'none'];

const GZIP_LEVEL = 1;
const ZSTD_LEVEL = 3;

/** Plain layer media types and what each becomes, per compression. */
const COMPRESSED_TYPE: Readonly<Record<'gzip' | 'zstd', Readonly<Record<string, string>>>> = {
  gzip: {
    [MediaType.dockerLayer]: MediaType.dockerLayerGzip,
    [MediaType.ociLayer]: MediaType.ociLayerGzip,
    [MediaType.ociLayerNondistributable]: MediaType.ociLayerNondistributableGzip,
  },
  zstd: {
    [MediaType.dockerLayer]: MediaType.ociLayerZstd,
    [MediaType.ociLayer]: MediaType.ociLayerZstd,
    [MediaType.ociLayerNondistributable]: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  },
};

/** A layer stored as a plain tar, which push compresses. */
export function isPlainLayer(d: Descriptor): boolean {
  return d.mediaType in COMPRESSED_TYPE.gzip;
}

function compressor(kind: 'gzip' | 'zstd'): Transform {
  return kind === 'gzip' ? createGzip({ level: GZIP_LEVEL }) : (new CompressStream({ compressionLevel: ZSTD_LEVEL }) as unknown as Transform);
}

export interface CompressedLayer {
  desc: Descriptor;
  sources: BlobSource[];
}

/**
 * Compresses plain layers into a scratch directory, each digest once
 * however many images share it, and gives their new descriptors and a
 * source to upload from. The files stay until `cleanup()`: a blob that
 * cannot be mounted into a second repository is uploaded from them again.
 */
export class LayerCompressor {
  private readonly done = new Map<string, Promise<CompressedLayer>>();
  private readonly limit: ReturnType<typeof pLimit>;
  private scratch: { path: string; forget: () => void } | undefined;

  constructor(
    readonly kind: 'gzip' | 'zstd',
    concurrency: number,
    private readonly onBytes?: (n: number) => void,
  ) {
    this.limit = pLimit(concurrency);
  }

  /** The layer compressed (its plain bytes checked against `desc` on the way). */
  compress(desc: Descriptor, sources: readonly BlobSource[], what: string): Promise<CompressedLayer> {
    let pending = this.done.get(desc.digest);
    if (!pending) {
      pending = this.limit(() => this.compressOne(desc, sources, what));
      this.done.set(desc.digest, pending);
    }
    return pending;
  }

  private async compressOne(desc: Descriptor, sources: readonly BlobSource[], what: string): Promise<CompressedLayer> {
    this.scratch ??= scratchDirectory(path.join(os.tmpdir(), 'airpack-push-layers-'));
    const file = path.join(this.scratch.path, desc.digest.replace(':', '-'));
    let sink: ReturnType<typeof compressingSink> | undefined;
    await downloadBlob(sources, desc, file, { what, ...(this.onBytes ? { onBytes: this.onBytes } : {}), sink: (f) => (sink = compressingSink(f, () => compressor(this.kind))) });
    const { digest, size } = sink!.result();
    const { urls: _urls, ...rest } = desc;
    const compressed: Descriptor = { ...rest, mediaType: COMPRESSED_TYPE[this.kind][desc.mediaType] ?? desc.mediaType, digest, size };
    const source: BlobSource = { name: `${this.kind} copy of ${desc.digest}`, local: true, open: async (offset) => ({ body: createReadStream(file, { start: offset, highWaterMark: 1024 * 1024 }), resumed: true }) };
    return { desc: compressed, sources: [source] };
  }

  /** The edit that puts the compressed descriptors into a manifest (OCI types for zstd). */
  manifestEdit(compressed: ReadonlyMap<string, Descriptor>): ManifestEdit {
    return (manifest, mediaType) => {
      if (!manifest.layers.some((d) => compressed.has(d.digest))) return undefined;
      const layers = manifest.layers.map((d) => {
        // Digest and size from the compressed copy; the media type from this manifest's own family.
        const c = compressed.get(d.digest);
        return c ? { ...d, mediaType: COMPRESSED_TYPE[this.kind][d.mediaType] ?? c.mediaType, digest: c.digest, size: c.size } : d;
      });
      if (this.kind === 'zstd' && mediaType === MediaType.dockerManifest) {
        const config = { ...manifest.config, mediaType: MediaType.ociConfig };
        return { manifest: { ...manifest, mediaType: MediaType.ociManifest, config, layers }, mediaType: MediaType.ociManifest };
      }
      return { manifest: { ...manifest, layers }, mediaType };
    };
  }

  async cleanup(): Promise<void> {
    if (!this.scratch) return;
    await rm(this.scratch.path, { recursive: true, force: true });
    this.scratch.forget();
    this.scratch = undefined;
  }
}
