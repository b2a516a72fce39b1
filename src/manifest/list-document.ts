/**
 * The manifest list document itself: an OCI index, or a Docker manifest
 * list when every child is a Docker manifest (a Docker v2 list naming OCI
 * manifests is refused by some clients, an OCI index naming Docker
 * manifests is read by all). Children keep their order; each carries
 * os, architecture, variant, os.version and os.features.
 */
import { AirpackError } from '../errors.js';
import { formatPlatform, normalizePlatform, type Platform } from '../platform/platform.js';
import type { FetchedManifest } from '../registry/client.js';
import { sha256Digest } from '../registry/client.js';
import { MediaType } from '../spec/media-types.js';
import type { Descriptor, ImageIndex } from '../spec/types.js';
import type { ListEntry } from './local-lists.js';

/** The platform as a key: two children with the same one would make the list ambiguous. */
function platformKey(p: Platform): string {
  const n = normalizePlatform(p);
  return [n.os, n.architecture, n.variant ?? '', n['os.version'] ?? ''].join('/');
}

/** Refuses two children that serve the same platform, naming both. */
export function checkDistinctPlatforms(target: string, entries: readonly ListEntry[]): void {
  const seen = new Map<string, ListEntry>();
  for (const e of entries) {
    const key = platformKey(e.platform);
    const other = seen.get(key);
    if (other) {
      throw new AirpackError(
        'INVALID_ARGUMENT',
        `manifest list ${target}: ${other.source} and ${e.source} are both ${formatPlatform(e.platform)} [a list holds one image per platform; set another with: airpack manifest annotate ${target} ${e.source} --os-version ... or --variant ...]`,
      );
    }
    seen.set(key, e);
  }
}

export function buildListDocument(target: string, entries: readonly ListEntry[]): FetchedManifest {
  if (entries.length === 0) throw new AirpackError('INVALID_ARGUMENT', `manifest list ${target}: no images in it [add some with: airpack manifest create --amend ${target} IMAGE...]`);
  checkDistinctPlatforms(target, entries);
  const docker = entries.every((e) => e.mediaType === MediaType.dockerManifest);
  const mediaType = docker ? MediaType.dockerManifestList : MediaType.ociIndex;
  const manifests: Descriptor[] = entries.map((e) => ({ mediaType: e.mediaType, digest: e.digest, size: e.size, platform: platformOf(e.platform) }));
  const index: ImageIndex = { schemaVersion: 2, mediaType, manifests };
  const bytes = Buffer.from(JSON.stringify(index, null, 3));
  return { mediaType, digest: sha256Digest(bytes), bytes };
}

/** The platform in the field order the specs list them, empty fields left out. */
function platformOf(p: Platform): Platform {
  const out: Platform = { architecture: p.architecture, os: p.os };
  if (p['os.version']) out['os.version'] = p['os.version'];
  if (p['os.features']?.length) out['os.features'] = p['os.features'];
  if (p.variant) out.variant = p.variant;
  return out;
}
