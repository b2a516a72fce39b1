/**
 * What `serve` serves: the images of some archives, indexed the way a
 * registry is asked for them. A name `docker.io/rancher/rke2-runtime:v1`
 * is served as repository `rancher/rke2-runtime`, tag `v1` (the host is the
 * server's own, as when a bundle is pushed into a site registry); its
 * manifest, index and child manifests by digest; every blob the archive
 * holds by digest. Archives are read through the archive source: a bundle
 * in place through its seek table and entry index, nothing unpacked.
 */
import { pipeline, type Readable, Transform } from 'node:stream';
import type { ArchiveImage } from '../image/describe.js';
import { parseReference } from '../ref/reference.js';
import type { FetchedManifest } from '../registry/client.js';
import { NETWORK_BUNDLE_READERS } from '../source/bundle-readers.js';
import { LocalArchives, type LocalArchive } from '../source/archive-source.js';
import type { Located } from '../source/archive-file.js';

export interface ServedBlob {
  size: number;
  stream(start: number, end: number): Readable;
}

export interface Catalog {
  /** Repositories and their tags, sorted. */
  repositories(): string[];
  tags(repository: string): string[] | undefined;
  /** A manifest or index by tag or digest, with its media type. */
  manifest(repository: string, reference: string): Promise<FetchedManifest | undefined>;
  blob(repository: string, digest: string): ServedBlob | undefined;
  close(): Promise<void>;
}

interface Repo {
  tags: Map<string, { archive: LocalArchive; digest: string; mediaType?: string }>;
  /** Manifests and indexes this repository's images reach, by digest. */
  manifests: Map<string, { archive: LocalArchive; mediaType?: string }>;
}

/** Opens `paths` and indexes every named image they hold; warns (via `onWarning`) about names held twice. */
export async function openCatalog(paths: readonly string[], onWarning: (message: string) => void = () => {}): Promise<Catalog> {
  const archives = new LocalArchives(NETWORK_BUNDLE_READERS);
  const repos = new Map<string, Repo>();
  const opened: LocalArchive[] = [];
  try {
    for (const path of paths) {
      const archive = await archives.open(path);
      opened.push(archive);
      for (const image of await archive.images()) await addImage(repos, archive, image, onWarning);
    }
  } catch (err) {
    await archives.cleanup();
    throw err;
  }
  const repo = (name: string): Repo | undefined => repos.get(name);
  return {
    repositories: () => [...repos.keys()].sort(),
    tags: (name) => {
      const r = repo(name);
      return r ? [...r.tags.keys()].sort() : undefined;
    },
    async manifest(name, reference) {
      const r = repo(name);
      if (!r) return undefined;
      const tagged = r.tags.get(reference);
      const digest = tagged?.digest ?? reference;
      const known = r.manifests.get(digest);
      if (!known) return undefined;
      return known.archive.manifest({ digest, ...(known.mediaType ? { mediaType: known.mediaType } : {}) }, `manifest of ${name}`);
    },
    blob(name, digest) {
      const r = repo(name);
      if (!r) return undefined;
      // Blobs are content-addressed: any archive that holds the digest serves it.
      for (const archive of opened) {
        const at = archive.blob(digest);
        if (at) return servedBlob(at);
      }
      return undefined;
    },
    close: () => archives.cleanup(),
  };
}

function servedBlob(at: Located): ServedBlob {
  return {
    size: at.size,
    stream: (start, end) => (end >= at.size - 1 ? at.stream(start) : upTo(at.stream(start), end - start + 1)),
  };
}

/** The first `length` bytes of `source`; the rest is not read. */
function upTo(source: Readable, length: number): Readable {
  let left = length;
  const cut = new Transform({
    transform(chunk: Buffer, _enc, done) {
      if (left > 0) {
        const piece = chunk.length > left ? chunk.subarray(0, left) : chunk;
        left -= piece.length;
        this.push(piece);
      }
      if (left <= 0) {
        this.push(null);
        source.destroy();
      }
      done();
    },
  });
  // pipeline(): when the client goes away, the source is destroyed too, and gives back its read turn.
  pipeline(source, cut, () => {});
  return cut;
}

async function addImage(repos: Map<string, Repo>, archive: LocalArchive, image: ArchiveImage, onWarning: (message: string) => void): Promise<void> {
  if (!image.digest) {
    onWarning(`${archive.path}: ${image.names[0] ?? 'an image'} is listed only in docker's manifest.json; serve reads OCI layouts (airpack archives, docker 25+, skopeo, podman, ctr), so it is left out`);
    return;
  }
  for (const full of new Set(image.names)) {
    let ref;
    try {
      ref = parseReference(full);
    } catch {
      continue;
    }
    let repo = repos.get(ref.repository);
    if (!repo) {
      repo = { tags: new Map(), manifests: new Map() };
      repos.set(ref.repository, repo);
    }
    const manifests = repo.manifests;
    manifests.set(image.digest, { archive, ...(image.mediaType ? { mediaType: image.mediaType } : {}) });
    for (const p of image.platforms) if (p.manifestDigest && !manifests.has(p.manifestDigest)) manifests.set(p.manifestDigest, { archive });
    if (ref.tag === undefined) continue;
    const held = repo.tags.get(ref.tag);
    if (held && held.digest !== image.digest) {
      onWarning(`${ref.repository}:${ref.tag} is in ${held.archive.path} and ${archive.path} with different digests; the first is served`);
      continue;
    }
    repo.tags.set(ref.tag, { archive, digest: image.digest, ...(image.mediaType ? { mediaType: image.mediaType } : {}) });
  }
  if (image.names.length === 0) onWarning(`${archive.path}: an image (${image.digest}) carries no name, so no repository to serve it under; left out`);
}
