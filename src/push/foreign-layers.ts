/**
 * Windows base layers are "foreign" (non-distributable): their manifests
 * name URLs outside the registry to fetch them from. On a site with no
 * route to those URLs, a node must get them from the site registry. Measured
 * with containerd 1.6 (test/push-windows.test.ts): `ctr images pull` tries
 * a foreign layer's URLs first and gives up on a refused connection instead
 * of asking the registry, even when the registry holds the blob. So push
 * uploads their bytes as ordinary blobs and, by default, rewrites the
 * manifests: URLs dropped, the distributable media type, so new manifest
 * digests (and a new index over them). `--keep-foreign-urls` pushes the
 * manifests byte for byte instead (digests kept, URLs still outside).
 */
import type { FetchedManifest } from '../registry/client.js';
import { distributableType, isForeignLayer } from '../image/foreign-layers.js';
import { rewriteManifests, type ManifestEdit, type Rewritten } from './rewrite-manifests.js';

/** Foreign layers made ordinary; no edit for a manifest without any. */
const dropForeignUrls: ManifestEdit = (manifest, mediaType) => {
  if (!manifest.layers.some(isForeignLayer)) return undefined;
  const layers = manifest.layers.map((d) => {
    if (!isForeignLayer(d)) return d;
    const { urls: _urls, ...rest } = d;
    return { ...rest, mediaType: distributableType(d.mediaType) };
  });
  return { manifest: { ...manifest, layers }, mediaType };
};

/** An image's manifests with foreign layers made ordinary, and its index re-pointed at the new children. */
export function rewriteForeignLayers(top: FetchedManifest, children: readonly FetchedManifest[], isIndex: boolean): Rewritten {
  return rewriteManifests(top, children, isIndex, dropForeignUrls);
}
