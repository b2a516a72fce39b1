/**
 * airpack as a library: the functions the CLI calls, and the building blocks
 * a release pipeline reaches for. Deliberately listed: what is not here is
 * internal and may change. The layout behind it: docs/architecture.md.
 */

// Commands
export { pull, type PullOptions, type PullResult, type PulledImage } from './pack/pull.js';
export { bundle, bundlePlatforms, type BundleArtifact, type BundleOptions, type BundleResult, type ImageSet } from './release/bundle.js';
export { bundleRelease, type ReleaseBundle, type ReleaseDescription, type ReleaseResult } from './release/release.js';
export { BUNDLE_PRESETS, expandName, type BundlePreset } from './release/naming.js';
export { reorderArchive, type ReorderArchiveOptions, type ReorderArchiveResult } from './reorder/reorder-output.js';
export { findImage, type FindMatch, type FindOptions, type FindResult } from './scan/find.js';
export { listArchive, type ArchiveListing } from './scan/list.js';
export { verifyArchive, type VerifyResult } from './scan/verify.js';
export { extractImage, type ExtractOptions, type ExtractResult } from './scan/extract.js';
export { openArchive, type ArchiveMetadata } from './scan/open.js';
export { serve, type ServeOptions, type Server } from './serve/server.js';
export { push, type PushedImage, type PushOptions, type PushResult } from './push/push.js';
export { annotateList, createList, inspectManifest, pushList, removeLists, type ManifestOptions, type PlatformOverrides, type PushedList } from './manifest/manifest.js';
export { LocalLists, localListDir, type ListEntry, type LocalList } from './manifest/local-lists.js';

// Errors and progress
export { AirpackError, exitCodeFor, ExitCode, isAirpackError, toAirpackError, type ErrorCode } from './errors.js';
export type { ProgressEvent, ProgressListener } from './progress.js';

// Value types: references, platforms, descriptors, media types
export { formatReference, parseReference, type Reference } from './ref/reference.js';
export { formatImageInput, parseImageInput, parseImageList, type ArchiveInput, type ImageInput } from './ref/input.js';
export { formatPlatform, parsePlatform, platformMatches, selectPlatform, type Platform, type PlatformSpec } from './platform/platform.js';
export type { Descriptor, DockerManifestEntry, ImageConfig, ImageIndex, ImageManifest } from './spec/types.js';
export { Annotation, ArchiveEntry, MediaType } from './spec/media-types.js';

// The image model: sources, the pack pipeline, sinks
export { openImageSource, type ImageSource, type SourceContext } from './source/image-source.js';
export type { ManifestSource, MissingPlatform, Resolution, ResolvedImage } from './source/resolve.js';
export { pack, type Packed, type PackedImage, type PackOptions } from './pack/pack.js';
export { openSession, type Session, type SessionOptions } from './pack/session.js';
export { LAYER_MODES, type FetchedImage, type ImageSink, type LayerDestination, type LayerMode, type PredictedWrite, type SinkResult, type StoredLayer } from './sink/image-sink.js';
export { openSink, type OpenSinkOptions } from './sink/open-sink.js';
export { describeArchiveImages, imageMatches, type ArchiveImage, type ArchiveImagePlatform } from './image/describe.js';

// Building blocks
export { RegistryClient, type RegistryOptions } from './registry/client.js';
export { BlobStore } from './blob/store.js';
export { downloadBlob, type BlobSource } from './blob/download.js';
export { writeImageArchive, type WriteArchiveOptions } from './archive/image-archive.js';
export type { ArchiveCompression } from './archive/compression-name.js';
export { reorderTar, type ReorderOptions, type ReorderResult } from './reorder/reorder.js';
export { scanTarFile } from './tar/index.js';
export { readFirstFrame, readSeekTable, SeekableZstdFile, writeZstdFrames } from './zstd/index.js';
export { detectCompression, openDecompressed, type Compression } from './compress/index.js';
