/**
 * `airpack manifest`: manifest lists over per-platform images already in a
 * registry, built the way velero's Makefile builds them with `docker
 * manifest create / annotate --os-version / push`:
 *
 *   create TARGET SOURCE...   each SOURCE's platform read from its config
 *   annotate TARGET SOURCE    change one child's os, arch, variant, os.version
 *   push TARGET               the list under TARGET's tag
 *   inspect REF               a list being built, or any manifest in a registry
 *
 * The list is kept on disk between the steps (local-lists.ts). Children in
 * another repository of the same registry are copied into TARGET's (blobs
 * mounted, the manifest PUT by digest) before the list that names them.
 */
import { AirpackError, isAirpackError } from '../errors.js';
import { parseIndex, parseJson, parseManifest } from '../image/documents.js';
import { isForeignType } from '../image/foreign-layers.js';
import { formatPlatform, parsePlatform, type Platform } from '../platform/platform.js';
import type { ProgressListener } from '../progress.js';
import { formatReference, manifestReference, parseReference, type Reference } from '../ref/reference.js';
import { RegistryPool, type FetchedManifest, type RegistryClient, type RegistryOptions } from '../registry/client.js';
import { RegistryWriter, type MountSources } from '../sink/registry-sink.js';
import { blobSources } from '../source/registry-source.js';
import { INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES } from '../spec/media-types.js';
import type { ImageConfig } from '../spec/types.js';
import { buildListDocument, checkDistinctPlatforms } from './list-document.js';
import { LocalLists, type ListEntry, type LocalList } from './local-lists.js';

/** What `--os`, `--arch`, `--variant`, `--os-version`, `--os-version-from` set on a child. */
export interface PlatformOverrides {
  os?: string;
  architecture?: string;
  variant?: string;
  osVersion?: string;
  /** An image (a Windows base image) whose os.version the child takes. */
  osVersionFrom?: string;
}

export interface ManifestOptions {
  registryOptions?: RegistryOptions;
  /** Where lists are kept between steps (default: see local-lists.ts). */
  lists?: LocalLists;
  onProgress?: ProgressListener;
}

export interface PushedList {
  target: string;
  digest: string;
  mediaType: string;
  images: Array<{ source: string; digest: string; platform: string }>;
  /** Children copied into the target's repository first. */
  copied: number;
}

/** A list's name: a tagged reference (the tag defaults to latest), never a digest. */
function targetName(target: string): Reference {
  const ref = parseReference(target);
  if (ref.digest) throw new AirpackError('INVALID_ARGUMENT', `manifest list ${target}: expected a tag to push the list as, not a digest`);
  return { registry: ref.registry, repository: ref.repository, tag: ref.tag ?? 'latest' };
}

class Session {
  readonly pool: RegistryPool;
  readonly lists: LocalLists;
  constructor(readonly options: ManifestOptions) {
    this.pool = new RegistryPool(options.registryOptions);
    this.lists = options.lists ?? new LocalLists();
  }
  client(ref: Reference): RegistryClient {
    return this.pool.get(ref.registry);
  }
}

async function configOf(client: RegistryClient, ref: Reference, manifest: FetchedManifest, what: string): Promise<ImageConfig> {
  const parsed = parseManifest(manifest.bytes, what);
  return parseJson<ImageConfig>(await client.getSmallBlob(ref.repository, parsed.config, `config of ${what}`), `config of ${what}`, 'MANIFEST_INVALID');
}

/** The os.version of `image` (a Windows image or an index of them), for a child of `architecture`. */
async function osVersionOf(session: Session, image: string, architecture: string): Promise<string> {
  const ref = parseReference(image);
  const client = session.client(ref);
  const top = await client.getManifest(ref.repository, manifestReference(ref));
  let manifest = top;
  if (INDEX_MEDIA_TYPES.has(top.mediaType)) {
    const windows = parseIndex(top.bytes, image).manifests.filter((d) => d.platform?.os === 'windows');
    const child = windows.find((d) => d.platform?.architecture === architecture) ?? windows[0];
    if (!child) throw new AirpackError('INVALID_ARGUMENT', `--os-version-from ${image}: the index holds no windows image`);
    if (child.platform?.['os.version']) return child.platform['os.version'];
    manifest = await client.getManifest(ref.repository, child.digest);
  }
  const version = (await configOf(client, ref, manifest, image))['os.version'];
  if (!version) throw new AirpackError('INVALID_ARGUMENT', `--os-version-from ${image}: its config has no os.version [expected a Windows image]`);
  return version;
}

/** The overrides as typed, checked before any registry is asked: a typo is the user's (exit 2), not a registry's. */
export function checkOverrides(o: PlatformOverrides): void {
  if (o.os !== undefined || o.architecture !== undefined || o.variant) {
    parsePlatform(`${o.os ?? 'linux'}/${o.architecture ?? 'amd64'}${o.variant ? `/${o.variant}` : ''}`);
  }
  if (o.osVersion !== undefined && !/^\d+\.\d+\.\d+(\.\d+)?$/.test(o.osVersion)) {
    throw new AirpackError('INVALID_ARGUMENT', `--os-version "${o.osVersion}": expected a Windows version such as 10.0.20348.2227`);
  }
  if (o.osVersionFrom !== undefined) parseReference(o.osVersionFrom);
}

/** A platform with the overrides applied, checked when the user typed any of it. */
async function applyOverrides(session: Session, platform: Platform, o: PlatformOverrides): Promise<Platform> {
  const out: Platform = { ...platform };
  if (o.os !== undefined) out.os = o.os;
  if (o.architecture !== undefined) out.architecture = o.architecture;
  if (o.variant !== undefined) {
    if (o.variant) out.variant = o.variant;
    else delete out.variant;
  }
  if (o.os !== undefined || o.architecture !== undefined || o.variant) {
    // The same names `-p` takes (amd46 is a typo, not a platform).
    const spec = parsePlatform(`${out.os}/${out.architecture}${out.variant ? `/${out.variant}` : ''}`);
    out.os = spec.os;
    out.architecture = spec.architecture;
    if (spec.variant) out.variant = spec.variant;
  }
  const osVersion = o.osVersionFrom !== undefined ? await osVersionOf(session, o.osVersionFrom, out.architecture) : o.osVersion;
  if (osVersion !== undefined) {
    if (!/^\d+\.\d+\.\d+(\.\d+)?$/.test(osVersion)) throw new AirpackError('INVALID_ARGUMENT', `--os-version "${osVersion}": expected a Windows version such as 10.0.20348.2227`);
    out['os.version'] = osVersion;
  }
  return out;
}

/** A child for a list: a per-platform image in a registry, its platform read from its config. */
async function describeChild(session: Session, source: string, overrides: PlatformOverrides): Promise<ListEntry> {
  const ref = parseReference(source);
  const name = formatReference(ref);
  const client = session.client(ref);
  const manifest = await client.getManifest(ref.repository, manifestReference(ref));
  if (INDEX_MEDIA_TYPES.has(manifest.mediaType)) {
    const children = parseIndex(manifest.bytes, name).manifests.filter((d) => d.platform && d.platform.os !== 'unknown');
    const example = children[0] ? ` e.g. ${ref.registry}/${ref.repository}@${children[0].digest} (${formatPlatform(children[0].platform!)})` : '';
    throw new AirpackError('INVALID_ARGUMENT', `${name}: is itself a manifest list of ${children.length} platform(s) [name one platform's image:${example}]`);
  }
  if (!MANIFEST_MEDIA_TYPES.has(manifest.mediaType)) throw new AirpackError('UNSUPPORTED_MEDIA_TYPE', `${name}: media type ${manifest.mediaType} [expected an image manifest]`);
  const config = await configOf(client, ref, manifest, name);
  const fromConfig: Platform = { os: config.os ?? '', architecture: config.architecture ?? '' };
  if (config.variant) fromConfig.variant = config.variant;
  if (config['os.version']) fromConfig['os.version'] = config['os.version'];
  if (config['os.features']?.length) fromConfig['os.features'] = config['os.features'];
  // As the config says it (arm64 with variant v8 stays so); platforms are compared normalised.
  const platform = await applyOverrides(session, fromConfig, overrides);
  if (!platform.os || !platform.architecture) throw new AirpackError('INVALID_ARGUMENT', `${name}: its config names no os or architecture [give --os and --arch]`);
  return { source: name, mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.bytes.length, platform };
}

/** The children of a list already in the registry under `target`, for --amend; none when it is not there. */
async function listInRegistry(session: Session, target: Reference): Promise<ListEntry[]> {
  const name = formatReference(target);
  let top: FetchedManifest;
  try {
    top = await session.client(target).getManifest(target.repository, target.tag!);
  } catch (err) {
    if (isAirpackError(err, 'NOT_FOUND')) return [];
    throw err;
  }
  if (!INDEX_MEDIA_TYPES.has(top.mediaType)) throw new AirpackError('INVALID_ARGUMENT', `--amend ${name}: the registry has an image there, not a manifest list`);
  return parseIndex(top.bytes, name).manifests.map((d) => ({
    source: `${target.registry}/${target.repository}@${d.digest}`,
    mediaType: d.mediaType,
    digest: d.digest,
    size: d.size,
    platform: d.platform ?? { os: '', architecture: '' },
  }));
}

/** Puts `entry` in the list: in place of the same image (by name or digest), else at the end. */
function upsert(entries: ListEntry[], entry: ListEntry): void {
  const at = entries.findIndex((e) => e.source === entry.source || e.digest === entry.digest);
  if (at >= 0) entries[at] = entry;
  else entries.push(entry);
}

export async function createList(target: string, sources: readonly string[], options: ManifestOptions & { amend?: boolean; overrides?: PlatformOverrides } = {}): Promise<LocalList> {
  checkOverrides(options.overrides ?? {});
  for (const source of sources) parseReference(source);
  // An os.version belongs to one image: given for several, it would make them all claim one Windows build.
  const o = options.overrides ?? {};
  if (sources.length > 1 && (o.osVersion !== undefined || o.osVersionFrom !== undefined)) {
    throw new AirpackError(
      'INVALID_ARGUMENT',
      `manifest create ${target}: ${o.osVersion !== undefined ? '--os-version' : '--os-version-from'} is for one image, and ${sources.length} are named [create the list from the others, then add this one: airpack manifest create --amend ${target} SOURCE ${o.osVersion !== undefined ? `--os-version ${o.osVersion}` : `--os-version-from ${o.osVersionFrom}`}, or airpack manifest annotate ${target} SOURCE ...]`,
    );
  }
  const session = new Session(options);
  const ref = targetName(target);
  const name = formatReference(ref);
  const existing = await session.lists.load(name);
  if (existing && !options.amend) {
    throw new AirpackError('INVALID_ARGUMENT', `manifest list ${name}: already being built, with ${existing.entries.length} image(s) [add to it with --amend, or start over: airpack manifest rm ${name}]`);
  }
  const entries = existing ? [...existing.entries] : options.amend ? await listInRegistry(session, ref) : [];
  for (const source of sources) upsert(entries, await describeChild(session, source, options.overrides ?? {}));
  checkDistinctPlatforms(name, entries);
  const list = { target: name, entries };
  await session.lists.save(list);
  return list;
}

export async function annotateList(target: string, source: string, overrides: PlatformOverrides, options: ManifestOptions = {}): Promise<LocalList> {
  checkOverrides(overrides);
  const session = new Session(options);
  const name = formatReference(targetName(target));
  const list = await loadList(session, name);
  const wanted = formatReference(parseReference(source));
  const entry = list.entries.find((e) => e.source === wanted || e.digest === parseReference(source).digest);
  if (!entry) throw new AirpackError('INVALID_ARGUMENT', `manifest list ${name}: holds no ${wanted} [it holds: ${list.entries.map((e) => e.source).join(', ')}]`);
  entry.platform = await applyOverrides(session, entry.platform, overrides);
  checkDistinctPlatforms(name, list.entries);
  await session.lists.save(list);
  return list;
}

async function loadList(session: Session, name: string): Promise<LocalList> {
  const list = await session.lists.load(name);
  if (!list) throw new AirpackError('INVALID_ARGUMENT', `manifest list ${name}: none is being built [start one: airpack manifest create ${name} IMAGE...]`);
  return list;
}

/** A list being built (as it would be pushed), else the manifest or list in the registry. */
export async function inspectManifest(reference: string, options: ManifestOptions = {}): Promise<FetchedManifest & { local: boolean }> {
  const session = new Session(options);
  const ref = parseReference(reference);
  if (!ref.digest) {
    const list = await session.lists.load(formatReference(targetName(reference)));
    if (list) return { ...buildListDocument(list.target, list.entries), local: true };
  }
  return { ...(await session.client(ref).getManifest(ref.repository, manifestReference(ref))), local: false };
}

/** A child in another repository of the target's registry: its blobs mounted (or copied) and its manifest PUT by digest. */
async function copyChild(session: Session, writer: RegistryWriter, mounts: MountSources, target: Reference, entry: ListEntry): Promise<void> {
  const from = parseReference(entry.source);
  const client = session.client(from);
  const manifest = await client.getManifest(from.repository, entry.digest);
  const parsed = parseManifest(manifest.bytes, entry.source);
  for (const desc of [parsed.config, ...parsed.layers]) {
    // A foreign layer (Windows base) lives at its URLs; a registry does not need it.
    if (desc.urls?.length && isForeignType(desc.mediaType)) continue;
    mounts.set(desc.digest, from.repository);
    await writer.putBlob(target.repository, desc, blobSources(client, from.repository, desc));
  }
  await writer.putManifest(target.repository, entry.digest, manifest);
}

export async function pushList(target: string, options: ManifestOptions & { purge?: boolean } = {}): Promise<PushedList> {
  const session = new Session(options);
  const ref = targetName(target);
  const name = formatReference(ref);
  const list = await loadList(session, name);
  const document = buildListDocument(name, list.entries);
  for (const e of list.entries) {
    const from = parseReference(e.source);
    if (from.registry !== ref.registry) {
      throw new AirpackError('INVALID_ARGUMENT', `manifest list ${name}: ${e.source} is on ${from.registry}, the list goes to ${ref.registry} [copy the image there first: airpack push, or skopeo copy]`);
    }
  }
  const mounts: MountSources = new Map();
  const writer = new RegistryWriter(session.client(ref), mounts, { onBytes: (n) => options.onProgress?.({ type: 'bytes', n }) });
  let copied = 0;
  for (const e of list.entries) {
    // Children are PUT before the list that names them; one in the list's own repository is there already.
    if (parseReference(e.source).repository === ref.repository) continue;
    await copyChild(session, writer, mounts, ref, e);
    copied++;
  }
  await writer.putManifest(ref.repository, ref.tag!, document);
  if (options.purge) await session.lists.remove(name);
  return {
    target: name,
    digest: document.digest,
    mediaType: document.mediaType,
    images: list.entries.map((e) => ({ source: e.source, digest: e.digest, platform: formatPlatform(e.platform) })),
    copied,
  };
}

/** Forgets lists being built; returns the ones that existed. */
export async function removeLists(targets: readonly string[], options: ManifestOptions = {}): Promise<string[]> {
  const session = new Session(options);
  const removed: string[] = [];
  for (const t of targets) {
    const name = formatReference(targetName(t));
    if (await session.lists.remove(name)) removed.push(name);
  }
  return removed;
}
