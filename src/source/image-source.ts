/**
 * Where images come from. An image source turns what the user named (a
 * registry reference, an archive on disk) and the platforms asked for into
 * an image graph: per platform, the manifest and config (as bytes, checked),
 * layer descriptors, and for every blob where to read it (`ResolvedImage.blobs`,
 * streams checked for size and digest at their end and reopened at an offset
 * after a break: blob/download.ts).
 *
 * Siblings in this folder: the registry (registry-source.ts) and archives on
 * disk (archive-source.ts: tar files in any compression, OCI layout
 * directories, airpack bundles read in place). pack/ resolves through them;
 * the far side (scan/) reads the same archives.
 */
import type { PlatformSpec } from '../platform/platform.js';
import { formatImageInput, isArchiveInput, type ImageInput } from '../ref/input.js';
import type { RegistryClient } from '../registry/client.js';
import type { Descriptor } from '../spec/types.js';
import type { LocalArchives } from './archive-source.js';
import { resolveImage } from './registry-source.js';
import type { Resolution } from './resolve.js';

export interface ImageSource {
  /** What the user named, for messages. */
  readonly name: string;
  /** The images this source holds for each requested platform, and the platforms it lacks. */
  resolve(specs: readonly PlatformSpec[]): Promise<Resolution>;
}

/** What sources of one run share. */
export interface SourceContext {
  clientFor: (registry: string) => RegistryClient;
  /** A config or other small blob from a registry, checked (and kept in the run's blob store). */
  fetchSmallBlob: (client: RegistryClient, repository: string, desc: Descriptor, what: string) => Promise<Buffer>;
  /** The run's archives on disk, each opened once. */
  archives: () => Promise<LocalArchives>;
}

export function openImageSource(input: ImageInput, ctx: SourceContext): ImageSource {
  const name = formatImageInput(input);
  if (isArchiveInput(input)) {
    return {
      name,
      // Loaded on first use: archive reading brings the tar and zstd readers, which registry pulls need not load.
      resolve: async (specs) => (await import('./archive-source.js')).resolveArchiveInput(await ctx.archives(), input, specs),
    };
  }
  const client = ctx.clientFor(input.registry);
  return { name, resolve: (specs) => resolveImage(client, input, specs, (repo, desc, what) => ctx.fetchSmallBlob(client, repo, desc, what)) };
}
