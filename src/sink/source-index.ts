/**
 * Whether an archive keeps the source's index byte for byte. It does when
 * the images packed from one reference are every child that index lists,
 * each under the manifest digest the index names: then the index is stored
 * as it came (an OCI index or a Docker manifest list alike), `index.json`
 * points at it, and `push` puts it up unchanged, so `name@sha256:<index>`
 * pins made against the source registry still resolve at the site.
 *
 * Anything less gets an index airpack writes over what it holds
 * (archive-content.ts), with a new digest:
 * - a subset of the platforms (the source index names manifests the archive
 *   lacks, and a registry refuses an index whose children it lacks);
 * - an index with attestation manifests (buildx's `unknown/unknown`
 *   entries): pull and bundle never pack them, so such an index is never
 *   complete;
 * - `--layers uncompressed`: the manifests are rewritten, so the children
 *   the index names are not the ones stored.
 */
import { parseIndex } from '../image/documents.js';
import type { FetchedManifest } from '../registry/client.js';
import type { FetchedImage } from './image-sink.js';

/** The source index of `group` (the images packed from one reference) when the group is every child it names, as named; else undefined. */
export function completeSourceIndex(group: readonly FetchedImage[]): FetchedManifest | undefined {
  const index = group[0]?.source.index;
  if (!index || group.some((image) => image.source.index?.digest !== index.digest)) return undefined;
  // Stored as the source has it: a manifest rewritten on the way is not the child the index names.
  if (group.some((image) => image.manifest.digest !== image.source.manifest.digest)) return undefined;
  const listed = new Set(parseIndex(index.bytes, `index ${index.digest}`).manifests.map((d) => d.digest));
  const held = new Set(group.map((image) => image.manifest.digest));
  return listed.size === held.size && [...listed].every((digest) => held.has(digest)) ? index : undefined;
}
