/**
 * The manifest of an image that came without one (docker save before
 * Docker 25, crane's tarballs): a docker schema 2 manifest over its config
 * and layer blobs, as `docker load` rebuilds it. Its digest is new: the
 * registry's manifest is not in such archives.
 */
import { sha256Digest, type FetchedManifest } from '../registry/client.js';
import { MediaType } from '../spec/media-types.js';
import type { Descriptor, ImageManifest } from '../spec/types.js';

export function dockerManifestFor(config: Buffer, layers: readonly Descriptor[]): FetchedManifest {
  const configDigest = sha256Digest(config);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.dockerManifest,
    config: { mediaType: MediaType.dockerConfig, digest: configDigest, size: config.length },
    layers: [...layers],
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  return { mediaType: MediaType.dockerManifest, digest: sha256Digest(bytes), bytes };
}
