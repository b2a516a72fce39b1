/**
 * Resolution: from references and requested platforms to the exact image
 * manifests to fetch. An index (OCI or Docker list) gives one child per
 * requested platform (attestations never count); a single manifest serves
 * only the platform its config declares. A request no child serves is
 * reported as missing, with the platforms the image does offer.
 */
import type { BlobSource } from '../blob/download.js';
import { AirpackError } from '../errors.js';
import { formatPlatform, isAttestation, normalizePlatform, platformMatches, selectPlatform, type Platform, type PlatformSpec } from '../platform/platform.js';
import { formatReference, type Reference } from '../ref/reference.js';
import type { FetchedManifest } from '../registry/client.js';
import { checkDiffIds, hasImageConfig, parseIndex, parseJson as parseDocument, parseManifest } from '../image/documents.js';
import { INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES } from '../spec/media-types.js';
import type { Descriptor, ImageConfig, ImageIndex, ImageManifest } from '../spec/types.js';

export interface ResolvedImage {
  ref: Reference;
  /** The requests this image serves, in the order asked. */
  specs: PlatformSpec[];
  /** The platform as the index (or, for a single manifest, the config) states it. */
  platform: Platform;
  /**
   * The index the image was chosen from, when there was one, as the source
   * holds it (checked against its digest): a sink keeps it byte for byte
   * when it holds every child (sink/source-index.ts).
   */
  index?: FetchedManifest;
  /**
   * The digests of the image's origin, when the archive it was read from
   * recorded them (airpack's source annotations, or a `repo@sha256:` name):
   * what the reference resolved to, and this manifest's own. Written on, so
   * a re-bundle carries the registry's digests as a bundle from it does.
   */
  origin?: { digest?: string; manifestDigest?: string };
  manifest: FetchedManifest;
  parsedManifest: ImageManifest;
  config: { digest: string; bytes: Buffer; parsed: ImageConfig };
  /** Where each blob can be read from, in the order to try: checked for size and digest by whoever reads (blob/download.ts). */
  blobs: (desc: Descriptor) => BlobSource[];
}

export interface MissingPlatform {
  ref: Reference;
  /** What to call the image in messages, when not its reference (an unnamed image of an archive). */
  label?: string;
  spec: PlatformSpec;
  available: string[];
}

export interface Resolution {
  images: ResolvedImage[];
  missing: MissingPlatform[];
}

/** Documents from a source (registry or archive) that do not parse are bad manifests: exit 4. */
function parseJson<T>(bytes: Buffer, what: string): T {
  return parseDocument<T>(bytes, what, 'MANIFEST_INVALID');
}

function checkManifest(m: ImageManifest, what: string): void {
  if (m.schemaVersion !== 2 || !m.config?.digest || !Array.isArray(m.layers)) {
    throw new AirpackError('MANIFEST_INVALID', `${what}: expected an image manifest with schemaVersion 2, a config and layers`);
  }
}

/** The platform a config states; a field of the wrong type states nothing (describe.ts reads configs alike). */
function platformFromConfig(config: ImageConfig): Platform {
  const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
  const p: Platform = { os: text(config.os) ?? '', architecture: text(config.architecture) ?? '' };
  const variant = text(config.variant);
  const osVersion = text(config['os.version']);
  if (variant) p.variant = variant;
  if (osVersion) p['os.version'] = osVersion;
  const features = config['os.features'];
  if (Array.isArray(features) && features.every((f) => typeof f === 'string')) p['os.features'] = features;
  return p;
}

/** Where an image's manifests and configs come from: a registry, or an archive on disk. */
export interface ManifestSource {
  /** The manifest or index the reference names. */
  top(): Promise<FetchedManifest>;
  /** A manifest an index points at. */
  child(digest: string): Promise<FetchedManifest>;
  /** A config, checked against its descriptor. */
  config(desc: Descriptor, what: string): Promise<Buffer>;
  /** Whether an index's child is at hand: an archive may hold only some platforms of its index (default: all are). */
  has?(digest: string): boolean;
  /** Where a blob of these images can be read from. */
  blobs(desc: Descriptor): BlobSource[];
}

/** The images `ref` names for each requested platform: an index's children, or the one manifest. */
export async function resolveFrom(ref: Reference, specs: readonly PlatformSpec[], source: ManifestSource, label = formatReference(ref)): Promise<Resolution> {
  const name = label;
  const top = await source.top();
  const images: ResolvedImage[] = [];
  const missing: MissingPlatform[] = [];

  const load = async (manifest: FetchedManifest, platform: Platform | undefined, index?: FetchedManifest): Promise<ResolvedImage> => {
    const what = `image ${name}${platform ? ` (${formatPlatform(platform)})` : ''}`;
    if (!MANIFEST_MEDIA_TYPES.has(manifest.mediaType)) {
      throw new AirpackError('UNSUPPORTED_MEDIA_TYPE', `${what}: manifest media type "${manifest.mediaType}" [expected ${[...MANIFEST_MEDIA_TYPES].join(' or ')}]`);
    }
    const parsedManifest = parseManifest(manifest.bytes, `manifest of ${what}`, 'MANIFEST_INVALID');
    checkManifest(parsedManifest, `manifest of ${what}`);
    const configBytes = await source.config(parsedManifest.config, `config of ${what}`);
    // An artifact's config may be anything (oras writes empty or binary ones): it has no platform, and is not packed.
    const parsed = hasImageConfig(parsedManifest) ? parseJson<ImageConfig>(configBytes, `config of ${what}`) : {};
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new AirpackError('MANIFEST_INVALID', `config of ${what}: expected a JSON object, found ${JSON.stringify(parsed)?.slice(0, 100)}`);
    if (hasImageConfig(parsedManifest)) checkDiffIds(parsedManifest, parsed, `config of ${what}`);
    const image: ResolvedImage = {
      ref,
      specs: [],
      platform: platform ? normalizePlatform(platform) : normalizePlatform(platformFromConfig(parsed)),
      manifest,
      parsedManifest,
      config: { digest: parsedManifest.config.digest, bytes: configBytes, parsed },
      blobs: (d) => source.blobs(d),
    };
    if (index) image.index = index;
    return image;
  };

  /** A child as its index describes it: the bytes must be as long as the index says (the digest is checked where it is read). */
  const childOf = async (d: Descriptor): Promise<FetchedManifest> => {
    const manifest = await source.child(d.digest);
    if (manifest.bytes.length !== d.size) throw new AirpackError('SIZE_MISMATCH', `image ${name}: manifest ${d.digest} is ${manifest.bytes.length} bytes [the index says ${d.size}]`);
    return manifest;
  };

  if (INDEX_MEDIA_TYPES.has(top.mediaType)) {
    const index = parseIndex(top.bytes, `index of ${name}`, 'MANIFEST_INVALID');
    const listed = (index.manifests ?? []).filter((d) => !isAttestation(d.platform) && (source.has?.(d.digest) ?? true));
    const byDigest = new Map<string, ResolvedImage>();
    const broken: unknown[] = [];
    // A child listed without a platform (ggcr and others write such indexes) gets its
    // config's, as a lone manifest does; skopeo copies such a child too.
    const children = await Promise.all(
      listed.map(async (d) => {
        if (d.platform || INDEX_MEDIA_TYPES.has(d.mediaType)) return d;
        try {
          const image = await load(await childOf(d), undefined, top);
          byDigest.set(d.digest, image);
          return image.platform.os ? { ...d, platform: image.platform } : d;
        } catch (err) {
          // A broken child the request may not need: it offers no platform. A request nothing
          // else serves gets its fault (below), not "no such platform": it may be the one asked for.
          broken.push(err);
          return d;
        }
      }),
    );
    for (const spec of specs) {
      const child = selectPlatform(spec, children);
      if (!child && broken.length > 0) throw broken[0];
      if (!child) {
        missing.push({ ref, label: name, spec, available: children.filter((c) => c.platform).map((c) => formatPlatform(normalizePlatform(c.platform as Platform))) });
        continue;
      }
      let image = byDigest.get(child.digest);
      if (image && !images.includes(image)) images.push(image);
      if (!image) {
        if (INDEX_MEDIA_TYPES.has(child.mediaType)) {
          throw new AirpackError('UNSUPPORTED_MEDIA_TYPE', `image ${name}: nested index ${child.digest} for ${formatPlatform(spec)} is not supported`);
        }
        image = await load(await childOf(child), child.platform, top);
        byDigest.set(child.digest, image);
        images.push(image);
      }
      image.specs.push(spec);
    }
  } else {
    const image = await load(top, undefined);
    // An artifact (its config is no image config) has no platform to offer.
    const available = image.platform.os && image.platform.architecture ? [formatPlatform(image.platform)] : [`no platform: not an image (config ${image.parsedManifest.config.mediaType ?? 'without a media type'})`];
    for (const spec of specs) {
      if (platformMatches(spec, image.platform)) image.specs.push(spec);
      else missing.push({ ref, label: name, spec, available });
    }
    if (image.specs.length > 0) images.push(image);
  }
  return { images, missing };
}

export function missingPlatformError(m: MissingPlatform): AirpackError {
  const available = m.available.length > 0 ? m.available.join(', ') : 'none';
  return new AirpackError('PLATFORM_NOT_FOUND', `image ${m.label ?? formatReference(m.ref)}: no image for platform ${formatPlatform(m.spec)} [available: ${available}]`);
}
