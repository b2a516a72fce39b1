/**
 * The one way push changes an image's documents: each manifest edited
 * (foreign layers made ordinary, layers compressed again), and an index over
 * them re-pointed at the new children. Every change makes new digests; the
 * caller reports them.
 */
import { parseIndex, parseManifest } from '../image/documents.js';
import { sha256Digest, type FetchedManifest } from '../registry/client.js';
import { MediaType } from '../spec/media-types.js';
import type { ImageManifest } from '../spec/types.js';

/** A manifest's new document and media type, or undefined to keep it byte for byte. */
export type ManifestEdit = (manifest: ImageManifest, mediaType: string) => { manifest: ImageManifest; mediaType: string } | undefined;

export interface Rewritten {
  top: FetchedManifest;
  children: FetchedManifest[];
  /** Manifests rewritten: source digest to new digest (the index too). */
  changed: Map<string, string>;
}

function edited(m: FetchedManifest, edit: ManifestEdit): FetchedManifest | undefined {
  const r = edit(parseManifest(m.bytes, `manifest ${m.digest}`), m.mediaType);
  if (!r) return undefined;
  // The document states its own media type when the source's did (docker's always does).
  const document = r.manifest.mediaType !== undefined || r.mediaType !== m.mediaType ? { ...r.manifest, mediaType: r.mediaType } : r.manifest;
  const bytes = Buffer.from(JSON.stringify(document));
  return { mediaType: r.mediaType, digest: sha256Digest(bytes), bytes };
}

/** `edit` applied to an image's manifests; `isIndex` when `top` is an index over `children`. */
export function rewriteManifests(top: FetchedManifest, children: readonly FetchedManifest[], isIndex: boolean, edit: ManifestEdit): Rewritten {
  const changed = new Map<string, string>();
  if (!isIndex) {
    const single = edited(top, edit);
    if (single) changed.set(top.digest, single.digest);
    return { top: single ?? top, children: [], changed };
  }
  const byDigest = new Map<string, FetchedManifest>();
  const newChildren = children.map((c) => {
    const r = edited(c, edit);
    if (r) {
      changed.set(c.digest, r.digest);
      byDigest.set(c.digest, r);
    }
    return r ?? c;
  });
  if (changed.size === 0) return { top, children: [...children], changed };
  const index = parseIndex(top.bytes, `index ${top.digest}`);
  const manifests = index.manifests.map((d) => {
    const r = byDigest.get(d.digest);
    return r ? { ...d, mediaType: r.mediaType, digest: r.digest, size: r.bytes.length } : d;
  });
  // A Docker list over OCI manifests is no Docker list: it becomes an OCI index.
  const toOci = top.mediaType === MediaType.dockerManifestList && [...byDigest.values()].some((c) => c.mediaType === MediaType.ociManifest);
  const mediaType = toOci ? MediaType.ociIndex : top.mediaType;
  const bytes = Buffer.from(JSON.stringify({ ...index, ...(toOci || index.mediaType !== undefined ? { mediaType } : {}), manifests }));
  const digest = sha256Digest(bytes);
  changed.set(top.digest, digest);
  return { top: { mediaType, digest, bytes }, children: newChildren, changed };
}
