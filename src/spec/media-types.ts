/**
 * Spec strings: media types, archive file names and magic bytes, named once.
 * Every other module imports them from here instead of spelling them out.
 */

export const MediaType = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociLayerNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

export const INDEX_MEDIA_TYPES: ReadonlySet<string> = new Set([MediaType.ociIndex, MediaType.dockerManifestList]);
export const MANIFEST_MEDIA_TYPES: ReadonlySet<string> = new Set([MediaType.ociManifest, MediaType.dockerManifest]);

/** What we send in Accept when resolving a reference: indexes and single manifests, both families. */
export const MANIFEST_ACCEPT = [
  MediaType.ociIndex,
  MediaType.dockerManifestList,
  MediaType.ociManifest,
  MediaType.dockerManifest,
].join(', ');

/** Annotation keys written into index.json. */
export const Annotation = {
  refName: 'org.opencontainers.image.ref.name',
  containerdImageName: 'io.containerd.image.name',
  /**
   * airpack's own, on an index.json entry whose digest is not what the
   * reference resolved to in its source, so `find NAME@DIGEST` still answers
   * by the digest the registry served: a new index over some platforms, a
   * lone manifest rewritten for uncompressed layers, and also one platform
   * picked from an index (the entry is its manifest, even stored as served;
   * the value is the index's digest). Left out when the entry's digest is the
   * resolved one (a lone manifest as served, the source index kept byte for
   * byte) or the name says it (`repo@sha256:...`).
   */
  sourceDigest: 'org.airpack.source.digest',
  /** On a platform manifest's descriptor: that manifest's digest in the source, when it was rewritten. */
  sourceManifestDigest: 'org.airpack.source.manifest.digest',
} as const;

/** Entry names at the top of an image archive. */
export const ArchiveEntry = {
  dockerManifest: 'manifest.json',
  repositories: 'repositories',
  ociIndex: 'index.json',
  ociLayout: 'oci-layout',
  blobsDir: 'blobs/sha256/',
} as const;

/** Entries that a loader needs to decide what an archive holds; they go first. */
export const METADATA_ENTRIES: readonly string[] = [
  ArchiveEntry.dockerManifest,
  ArchiveEntry.repositories,
  ArchiveEntry.ociIndex,
  ArchiveEntry.ociLayout,
];

export const OCI_LAYOUT_CONTENT = '{"imageLayoutVersion":"1.0.0"}';

/** Magic bytes of the compressions we detect. */
export const Magic = {
  gzip: Buffer.from([0x1f, 0x8b]),
  zstd: Buffer.from([0x28, 0xb5, 0x2f, 0xfd]),
  bzip2: Buffer.from('BZh'),
  lz4: Buffer.from([0x04, 0x22, 0x4d, 0x18]),
  /** Skippable zstd frames use magic 0x184D2A50..0x184D2A5F (little endian). */
  zstdSkippableLow: 0x184d2a50,
} as const;
