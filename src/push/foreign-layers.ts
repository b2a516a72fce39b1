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
import { parseIndex, parseManifest } from '../image/documents.js';
import { sha256Digest, type FetchedManifest } from '../registry/client.js';
import { distributableType, isForeignLayer } from '../image/foreign-layers.js';

/** The manifest with its foreign layers made ordinary; undefined when it has none. */
function withoutForeignUrls(m: FetchedManifest): FetchedManifest | undefined {
  const parsed = parseManifest(m.bytes, `manifest ${m.digest}`);
  if (!parsed.layers.some(isForeignLayer)) return undefined;
  const layers = parsed.layers.map((d) => {
    if (!isForeignLayer(d)) return d;
    const { urls: _urls, ...rest } = d;
    return { ...rest, mediaType: distributableType(d.mediaType) };
  });
  const bytes = Buffer.from(JSON.stringify({ ...parsed, layers }));
  return { mediaType: m.mediaType, digest: sha256Digest(bytes), bytes };
}

export interface Rewritten {
  top: FetchedManifest;
  children: FetchedManifest[];
  /** Manifests rewritten: source digest to new digest. */
  changed: Map<string, string>;
}

/** An image's manifests with foreign layers made ordinary, and its index re-pointed at the new children. */
export function rewriteForeignLayers(top: FetchedManifest, children: readonly FetchedManifest[], isIndex: boolean): Rewritten {
  const changed = new Map<string, string>();
  if (!isIndex) {
    const single = withoutForeignUrls(top);
    if (single) changed.set(top.digest, single.digest);
    return { top: single ?? top, children: [], changed };
  }
  const newChildren = children.map((c) => {
    const r = withoutForeignUrls(c);
    if (r) changed.set(c.digest, r.digest);
    return r ?? c;
  });
  if (changed.size === 0) return { top, children: [...children], changed };
  const sizes = new Map(newChildren.map((c) => [c.digest, c.bytes.length]));
  const index = parseIndex(top.bytes, `index ${top.digest}`);
  const manifests = index.manifests.map((d) => {
    const digest = changed.get(d.digest);
    return digest ? { ...d, digest, size: sizes.get(digest)! } : d;
  });
  const bytes = Buffer.from(JSON.stringify({ ...index, manifests }));
  changed.set(top.digest, sha256Digest(bytes));
  return { top: { mediaType: top.mediaType, digest: sha256Digest(bytes), bytes }, children: newChildren, changed };
}
