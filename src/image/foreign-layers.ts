/**
 * Foreign (non-distributable) layers: Windows base layers whose manifests
 * name URLs outside the registry to fetch them from. What counts as one, and
 * the ordinary media type each becomes once its bytes are pushed.
 */
import { MediaType } from '../spec/media-types.js';
import type { Descriptor } from '../spec/types.js';

const DISTRIBUTABLE: Readonly<Record<string, string>> = {
  [MediaType.dockerForeignLayerGzip]: MediaType.dockerLayerGzip,
  [MediaType.ociLayerNondistributableGzip]: MediaType.ociLayerGzip,
  [MediaType.ociLayerNondistributable]: MediaType.ociLayer,
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd': MediaType.ociLayerZstd,
};

/** A non-distributable layer media type (Docker's foreign, OCI's nondistributable). */
export function isForeignType(mediaType: string): boolean {
  return mediaType in DISTRIBUTABLE;
}

/** A layer of a foreign type, or one that names URLs to fetch it from. */
export function isForeignLayer(d: Descriptor): boolean {
  return isForeignType(d.mediaType) || (d.urls?.length ?? 0) > 0;
}

/** The distributable media type of a foreign layer's (the type itself for any other). */
export function distributableType(mediaType: string): string {
  return DISTRIBUTABLE[mediaType] ?? mediaType;
}
