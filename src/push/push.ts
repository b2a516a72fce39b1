/**
 * `push`: the images of bundles and archives into a registry, under the
 * names they carry with the registry host replaced (and a path prefix
 * added): `docker.io/rancher/x:v1` pushed to `site:5000/mirror` becomes
 * `site:5000/mirror/rancher/x:v1`. Manifests, indexes and blobs go up byte
 * for byte, so `name@sha256:...` pins (kubelets, Helm charts) still resolve.
 *
 * Each image is read through the archive source (a bundle in place) and
 * written through the registry sink (sink/registry-sink.ts). An image that
 * only docker's manifest.json lists (docker save before 25) has its docker
 * manifest rebuilt, as `docker load` does, so its digest is new. An index
 * the archive holds only part of (`ctr images export` of one platform) is
 * rebuilt over the children it holds, and its new digest reported. A
 * bundle's index is the source registry's when it holds every child
 * (sink/source-index.ts): it goes up as it is, like any whole index.
 */
import pLimit from 'p-limit';
import type { BlobSource } from '../blob/download.js';
import { AirpackError } from '../errors.js';
import type { ArchiveImage } from '../image/describe.js';
import { parseIndex, parseManifest } from '../image/documents.js';
import type { ProgressListener } from '../progress.js';
import { formatReference, parseReference, type Reference } from '../ref/reference.js';
import { RegistryPool, type FetchedManifest, type RegistryOptions } from '../registry/client.js';
import { RegistryWriter, type BlobOutcome, type MountSources } from '../sink/registry-sink.js';
import { PUSH_BUNDLE_READERS } from '../source/bundle-readers.js';
import { chooseImages, LocalArchives, type LocalArchive } from '../source/archive-source.js';
import { ARCHIVE_TRANSPORTS, parseImageInput, type ArchiveInput } from '../ref/input.js';
import { isDirectory } from '../io/is-directory.js';
import { INDEX_MEDIA_TYPES } from '../spec/media-types.js';
import { buildListDocument } from '../manifest/list-document.js';
import { isForeignLayer } from '../image/foreign-layers.js';
import { rewriteForeignLayers } from './foreign-layers.js';
import type { ListEntry } from '../manifest/local-lists.js';
import { formatPlatform } from '../platform/platform.js';
import type { Descriptor, ImageManifest } from '../spec/types.js';
import { isPlainLayer, LayerCompressor, type LayerCompression } from './layer-compression.js';
import { rewriteManifests } from './rewrite-manifests.js';
import { checkOutputFile } from '../io/output-path.js';
import { TempFile } from '../io/output-sink.js';

export interface PushOptions {
  /** Bundles, image archives or OCI layout directories. */
  sources: readonly string[];
  /** `HOST[:PORT][/PREFIX]`. */
  registry: string;
  /** Print what would go where; send nothing. */
  dryRun?: boolean;
  /**
   * Push manifests with foreign (Windows base) layers byte for byte, their
   * URLs kept. Default false: they are rewritten so nodes without a route to
   * the URLs can pull (see push/foreign-layers.ts).
   */
  keepForeignUrls?: boolean;
  /**
   * What layers stored as plain tars (bundles made with `--layers
   * uncompressed`, docker save) become: gzip (default) or zstd, new digests
   * reported; `none` pushes them as they are. Compressed layers are never
   * touched. See push/layer-compression.ts.
   */
  layerCompression?: LayerCompression;
  /** A file to write every pushed image to as `TARGET PINNED` (`host/x:v1 host/x@sha256:...`), a line each, when the push is done. */
  digestsFile?: string;
  registryOptions?: RegistryOptions;
  /** Blobs in flight at once (default 4). */
  concurrency?: number;
  onProgress?: ProgressListener;
}

export interface PushedImage {
  source: string;
  /** The name in the archive. */
  name: string;
  /** Where it went: `host/prefix/repo:tag` (or `@digest` when the name has no tag). */
  target: string;
  digest: string;
  mediaType: string;
  /** Per platform manifest, when the image is an index. */
  children: string[];
  /** The archive held only part of its index: `digest` is of a list rebuilt over `children`; the source index and the platforms left out. */
  rebuilt?: { from: string; missing: string[] };
  /** Manifests with foreign layers: rewritten (URLs dropped, new digests) or kept byte for byte; `sourceDigest` is the digest before. */
  foreignLayers?: 'rewritten' | 'kept';
  /** Layers stored as plain tars were compressed with this; `digest` is new and `sourceDigest` the archive's. */
  layersCompressed?: 'gzip' | 'zstd';
  sourceDigest?: string;
}

export interface PushResult {
  registry: string;
  dryRun: boolean;
  images: PushedImage[];
  blobs: Record<BlobOutcome, number>;
  /** Bytes sent in uploads. */
  bytesUploaded: number;
}

/** `host:5000/some/prefix` -> host and prefix; the host must look like one (a dot, a port, or localhost). */
export function parseRegistryTarget(text: string): { host: string; prefix: string } {
  // Credentials belong in the auth file, never on a command line (they would show in ps and logs).
  if (/^[^/]*@/.test(text.replace(/^[a-z]+:\/\//, ''))) throw new AirpackError('INVALID_ARGUMENT', '--registry: expected HOST[:PORT][/PREFIX] without user:password@ [put credentials in $REGISTRY_AUTH_FILE or ~/.docker/config.json]');
  if (/^[a-z]+:\/\//i.test(text)) throw new AirpackError('INVALID_ARGUMENT', '--registry: expected HOST[:PORT][/PREFIX] without a scheme [https is used, with a fallback to http for --insecure hosts and 127.0.0.0/8]');
  const [host = '', ...rest] = text.replace(/\/+$/, '').split('/');
  if (!/^(localhost|[^/]*[.:][^/]*)$/.test(host)) throw new AirpackError('INVALID_ARGUMENT', `--registry "${text}": expected HOST[:PORT][/PREFIX], e.g. registry.example.com:5000/mirror`);
  const prefix = rest.join('/');
  if (prefix && !/^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/.test(prefix)) {
    throw new AirpackError('INVALID_ARGUMENT', `--registry "${text}": prefix "${prefix}" is not a repository path [lowercase letters, digits, ".", "_", "-", separated by "/"]`);
  }
  return { host, prefix };
}

interface Graph {
  top: FetchedManifest;
  children: FetchedManifest[];
  blobs: Array<{ desc: Descriptor; sources: BlobSource[] }>;
  /** The archive holds only part of the source index: `top` is a list rebuilt over what it holds. */
  rebuilt?: { from: string; missing: string[] };
  /** `top`'s digest in the archive, when the manifests were rewritten (foreign layers, compressed layers). */
  sourceDigest?: string;
  /** Plain layers compressed with this (set once done; in a dry run, what would be done). */
  compressed?: 'gzip' | 'zstd';
}

/**
 * Whether the image has foreign layers, and what push does with them: by
 * default the manifests are rewritten in place in `graph` (URLs dropped).
 */
function foreignLayersOf(graph: Graph, keep: boolean): 'rewritten' | 'kept' | undefined {
  const manifests = graph.children.length > 0 ? graph.children : [graph.top];
  const hasForeign = manifests.some((m) => parseManifest(m.bytes, `manifest ${m.digest}`).layers.some(isForeignLayer));
  if (!hasForeign) return undefined;
  if (keep) return 'kept';
  const r = rewriteForeignLayers(graph.top, graph.children, graph.children.length > 0);
  graph.sourceDigest ??= graph.top.digest;
  graph.top = r.top;
  graph.children = r.children;
  return 'rewritten';
}

/**
 * The plain layers of every graph compressed (each digest once), and the
 * manifests pointed at them: new digests, reported as such. In a dry run
 * only marks what would be compressed.
 */
async function compressPlainLayers(graphs: readonly Graph[], compressor: LayerCompressor, dryRun: boolean, onProgress?: ProgressListener): Promise<void> {
  const plain = new Map<string, { desc: Descriptor; sources: BlobSource[] }>();
  for (const g of graphs) for (const b of g.blobs) if (isPlainLayer(b.desc)) plain.set(b.desc.digest, b);
  if (plain.size === 0) return;
  if (dryRun) {
    for (const g of graphs) if (g.blobs.some((b) => plain.has(b.desc.digest))) g.compressed = compressor.kind;
    return;
  }
  onProgress?.({ type: 'phase', phase: 'compress', totalBytes: [...plain.values()].reduce((n, b) => n + b.desc.size, 0) });
  const done = new Map<string, { desc: Descriptor; sources: BlobSource[] }>();
  await Promise.all([...plain.values()].map(async (b) => done.set(b.desc.digest, await compressor.compress(b.desc, b.sources, `layer ${b.desc.digest}`))));
  const edit = compressor.manifestEdit(new Map([...done].map(([digest, c]) => [digest, c.desc])));
  for (const g of graphs) {
    if (!g.blobs.some((b) => done.has(b.desc.digest))) continue;
    const r = rewriteManifests(g.top, g.children, g.children.length > 0, edit);
    g.sourceDigest ??= g.top.digest;
    g.top = r.top;
    g.children = r.children;
    g.blobs = g.blobs.map((b) => done.get(b.desc.digest) ?? b);
    g.compressed = compressor.kind;
  }
}

/**
 * Every pushed image as `TARGET PINNED` a line (`site:5000/x:v1
 * site:5000/x@sha256:...`), into `file` (temp file, renamed when complete).
 * Two columns: skopeo and crane refuse a reference with both a tag and a digest.
 */
async function writeDigestsFile(file: string, images: readonly PushedImage[]): Promise<void> {
  const lines = images.map((i) => `${i.target} ${i.target.replace(/(?::[\w][\w.-]*|@[^@]*)$/, '')}@${i.digest}\n`).join('');
  const tmp = await TempFile.create({ target: file });
  try {
    await tmp.fh.writeFile(lines);
    await tmp.commit();
  } catch (err) {
    await tmp.discard();
    throw err;
  }
}

/** Everything an image in `archive` needs in a registry: its manifests (top last) and blobs. */
async function graphOf(archive: LocalArchive, image: ArchiveImage, label: string): Promise<Graph> {
  const blobs = new Map<string, { desc: Descriptor; sources: BlobSource[] }>();
  const addManifest = (m: FetchedManifest, sourcesFor: (d: Descriptor) => BlobSource[]): void => {
    const parsed = parseManifest(m.bytes, `${archive.path}: manifest ${m.digest}`);
    for (const d of [parsed.config, ...(parsed.layers ?? [])]) if (!blobs.has(d.digest)) blobs.set(d.digest, { desc: d, sources: sourcesFor(d) });
  };
  if (!image.digest) {
    const { source } = await archive.dockerOnly(image, label);
    const top = await source.top();
    addManifest(top, (d) => source.blobs(d));
    return { top, children: [], blobs: [...blobs.values()] };
  }
  const top = await archive.manifest({ digest: image.digest, ...(image.mediaType ? { mediaType: image.mediaType } : {}) }, `manifest of ${label}`);
  const children: FetchedManifest[] = [];
  if (INDEX_MEDIA_TYPES.has(top.mediaType)) {
    const index = parseIndex(top.bytes, `${archive.path}: index ${top.digest}`);
    const held: ListEntry[] = [];
    const missing: string[] = [];
    for (const d of index.manifests) {
      // A child whose manifest is not here (ctr export of one platform, docker save from containerd).
      if (!archive.blob(d.digest)) {
        missing.push(d.platform ? formatPlatform(d.platform) : d.digest);
        continue;
      }
      const child = await archive.manifest(d, `manifest of ${label}`);
      if (INDEX_MEDIA_TYPES.has(child.mediaType)) throw new AirpackError('UNSUPPORTED_MEDIA_TYPE', `${archive.path}: ${label}: nested index ${d.digest} [not supported by push yet]`);
      children.push(child);
      addManifest(child, (b) => archive.sources(b));
      held.push({ source: label, mediaType: child.mediaType, digest: child.digest, size: child.bytes.length, platform: d.platform ?? { os: '', architecture: '' } });
    }
    if (missing.length > 0) {
      if (held.length === 0) throw new AirpackError('ARCHIVE_INVALID', `${archive.path}: ${label}: its index lists ${index.manifests.length} manifest(s) and the archive holds none of them`);
      // The source index cannot go up as it is (the registry would refuse children it lacks):
      // a list over the children at hand, of their kind, with their platforms.
      return { top: buildListDocument(label, held), children, blobs: [...blobs.values()], rebuilt: { from: top.digest, missing } };
    }
  } else {
    addManifest(top, (b) => archive.sources(b));
  }
  return { top, children, blobs: [...blobs.values()] };
}

function targetOf(ref: Reference, host: string, prefix: string): Reference {
  const repository = prefix ? `${prefix}/${ref.repository}` : ref.repository;
  return { registry: host, repository, ...(ref.tag !== undefined ? { tag: ref.tag } : {}) };
}

export async function push(options: PushOptions): Promise<PushResult> {
  if (options.sources.length === 0) throw new AirpackError('INVALID_ARGUMENT', 'push: name at least one bundle or archive');
  const { host, prefix } = parseRegistryTarget(options.registry);
  if (options.digestsFile !== undefined) checkOutputFile(options.digestsFile, '--digests-file');
  const layerCompression = options.layerCompression ?? 'gzip';
  const pool = new RegistryPool(options.registryOptions);
  const mounts: MountSources = new Map();
  const result: PushResult = { registry: options.registry, dryRun: options.dryRun ?? false, images: [], blobs: { present: 0, mounted: 0, uploaded: 0 }, bytesUploaded: 0 };
  const writer = new RegistryWriter(pool.get(host), mounts, { onBytes: (n) => ((result.bytesUploaded += n), options.onProgress?.({ type: 'bytes', n })) });
  const limit = pLimit(options.concurrency ?? 4);
  const archives = new LocalArchives(PUSH_BUNDLE_READERS);
  const compressor = layerCompression === 'none' ? undefined : new LayerCompressor(layerCompression, options.concurrency ?? 4, (n) => options.onProgress?.({ type: 'progress', phase: 'compress', n }));
  try {
    // Every image's graph first (manifests only, a few KB each): the progress line then knows the total.
    const planned: Array<{ path: string; names: string[]; graph: Graph; foreign: 'rewritten' | 'kept' | undefined }> = [];
    const unnamed: AirpackError[] = [];
    for (const source of options.sources) {
      // `oci:DIR:NAME`, `docker-archive:PATH:NAME` and `:@N` pick and name images as for pull; a plain path takes them all.
      const input: ArchiveInput = ARCHIVE_TRANSPORTS.some((t) => source.startsWith(`${t}:`)) ? (parseImageInput(source) as ArchiveInput) : { archive: source };
      // For the hint an unnamed image gets: a directory is named as oci:DIR:NAME.
      if (input.transport === undefined && (await isDirectory(source))) input.transport = 'oci';
      const archive = await archives.open(input.archive);
      const choice = await chooseImages(archive, input);
      const names = new Map<ArchiveImage, string[]>();
      for (const { image, name } of choice.chosen) names.set(image, [...(names.get(image) ?? []), formatReference(name)]);
      for (const [image, given] of names) {
        const graph = await graphOf(archive, image, given[0]!);
        planned.push({ path: source, names: [...new Set(given)], graph, foreign: foreignLayersOf(graph, options.keepForeignUrls ?? false) });
      }
      if (choice.unnamedError) {
        unnamed.push(choice.unnamedError);
        options.onProgress?.({ type: 'warning', message: `${choice.unnamedError.message}; skipped` });
      }
    }
    // Nothing to push at all is no success: say how to name them.
    if (planned.length === 0 && unnamed.length > 0) throw unnamed[0]!;
    if (compressor) await compressPlainLayers(planned.map((p) => p.graph), compressor, result.dryRun, options.onProgress);
    const distinct = new Map(planned.flatMap(({ graph }) => graph.blobs.map((b) => [b.desc.digest, b.desc.size] as const)));
    if (!options.dryRun) options.onProgress?.({ type: 'phase', phase: 'push', totalBytes: [...distinct.values()].reduce((n, v) => n + v, 0) });
    const counted = new Set<string>();
    for (const { path, names, graph, foreign } of planned) {
      for (const name of names) {
        const target = targetOf(parseReference(name), host, prefix);
        const pushed: PushedImage = {
          source: path,
          name,
          target: formatReference(target.tag !== undefined ? target : { ...target, digest: graph.top.digest }),
          digest: graph.top.digest,
          mediaType: graph.top.mediaType,
          children: graph.children.map((c) => c.digest),
          ...(graph.rebuilt ? { rebuilt: graph.rebuilt } : {}),
          ...(foreign ? { foreignLayers: foreign } : {}),
          ...(graph.compressed ? { layersCompressed: graph.compressed } : {}),
          ...(graph.sourceDigest ? { sourceDigest: graph.sourceDigest } : {}),
        };
        result.images.push(pushed);
        if (options.dryRun) continue;
        const outcomes = await Promise.all(
          graph.blobs.map((b) =>
            limit(async () => {
              const outcome = await writer.putBlob(target.repository, b.desc, b.sources);
              // A blob already there (or mounted) counts as done; an upload counted its bytes as they went.
              if (outcome !== 'uploaded' && !counted.has(b.desc.digest)) options.onProgress?.({ type: 'progress', phase: 'push', n: b.desc.size });
              counted.add(b.desc.digest);
              return outcome;
            }),
          ),
        );
        for (const o of outcomes) result.blobs[o]++;
        // Children by digest before the index that names them; the tag last.
        for (const child of graph.children) await writer.putManifest(target.repository, child.digest, child);
        await writer.putManifest(target.repository, graph.top.digest, graph.top);
        if (target.tag !== undefined) await writer.putManifest(target.repository, target.tag, graph.top);
        options.onProgress?.({ type: 'image-done', reference: pushed.target, platform: graph.children.length > 0 ? `${graph.children.length} platforms` : 'one platform' });
      }
    }
    if (options.digestsFile !== undefined && !result.dryRun) await writeDigestsFile(options.digestsFile, result.images);
  } finally {
    await compressor?.cleanup();
    await archives.cleanup();
  }
  return result;
}
