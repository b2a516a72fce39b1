/**
 * `bundle`: references + platforms in, release artifacts out.
 *
 * Two shapes:
 * - `output`: one archive holding every requested platform, compression
 *   from the file name (`.tar.zst`, `.tar.gz`, `.tar`), nothing else written.
 * - `outputDir` + `preset` or `name`: one artifact per (image set, platform),
 *   named as the release pipeline names it, each with its image list
 *   (`<name>.txt`) beside it, and `sha256sum-<arch>.txt` per directory and
 *   architecture covering artifacts and lists.
 *
 * One session (blob store, registry pool) serves the whole matrix, so a blob
 * shared by several artifacts is downloaded once. Artifacts are written one
 * after another: each zstd write already compresses frames on all cores.
 * Output is deterministic: same inputs, same bytes.
 */
import { statSync } from 'node:fs';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { checkCompressionLevel, compressionForName, outputCompression, type ArchiveCompression } from '../archive/compression-name.js';
import { AirpackError } from '../errors.js';
import { describeImages, pack, type PackedImage } from '../pack/pack.js';
import { openSession, parseInputs, type Session } from '../pack/session.js';
import { formatPlatform, parsePlatform, type PlatformSpec } from '../platform/platform.js';
import type { ProgressListener } from '../progress.js';
import type { ImageInput } from '../ref/input.js';
import { formatReference } from '../ref/reference.js';
import type { RegistryOptions } from '../registry/client.js';
import type { LayerMode } from '../sink/image-sink.js';
import { checkOutputDir, checkOutputFile } from '../io/output-path.js';
import { openSink } from '../sink/open-sink.js';
import { formatSha256Sums, sha256File } from './checksums.js';
import { StagingArea } from './staging.js';
import {
  checksumFileName,
  envList,
  expandName,
  imageListName,
  patternFor,
  PRESET_PATTERNS,
  type BundlePreset,
  type NamePatterns,
} from './naming.js';

/** A named image list: rke2's `images-<set>.txt` becomes `<prog>-images-<set>.<os>-<arch>.tar.zst`. */
export interface ImageSet {
  /** "" (or absent) for the default set. */
  name?: string;
  images: ReadonlyArray<string | ImageInput>;
  /** Images for Windows platforms instead of `images` (release lists differ per os). */
  windowsImages?: ReadonlyArray<string | ImageInput>;
}

export interface BundleOptions {
  /** Image references for every platform (the default set). */
  images?: ReadonlyArray<string | ImageInput>;
  /** Images for Windows platforms instead of `images`. */
  windowsImages?: ReadonlyArray<string | ImageInput>;
  /** Further named sets (release-set mode only). */
  sets?: readonly ImageSet[];
  /** `os/arch[/variant][:osversion]`; default from env BUILD_OS x BUILD_ARCH (+ BUILD_WINDOWS_VERSION), else linux/amd64. */
  platforms?: ReadonlyArray<string | PlatformSpec>;
  /** Single-archive mode: the file to write. */
  output?: string;
  /** Release-set mode: the directory artifact names are relative to. */
  outputDir?: string;
  preset?: BundlePreset;
  /** A name pattern (see naming.ts); overrides the preset's pattern for all platforms. */
  name?: string;
  /** A name pattern for Windows platforms (default: `name`, else the preset's). */
  windowsName?: string;
  /** {prog}: default env PROG, else "rke2". */
  prog?: string;
  /** {bin}: default env BIN, else "velero". */
  bin?: string;
  /** {version}: default env VERSION, else "main". */
  version?: string;
  /** Environment read for PROG, BIN, VERSION, BUILD_OS, BUILD_ARCH, BUILD_WINDOWS_VERSION. The library reads none unless given (the CLI passes process.env). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Default `uncompressed`: layer tars as docker save stores them, which zstd shrinks best. */
  layers?: LayerMode;
  /** Override compression (default: from each artifact's name). */
  compression?: ArchiveCompression;
  /** zstd level (default 16, as rke2) or gzip level. */
  level?: number;
  /** zstd frame size (default 16 MiB, at most 32 MiB). */
  frameSize?: number;
  /** Release-set mode: write `<name>.txt` image lists and sha256sum files (default true). */
  sideFiles?: boolean;
  /** Release-set mode: write the sha256sum files (default true; bundleRelease writes them once for all bundles). */
  checksums?: boolean;
  skipMissing?: boolean;
  registry?: RegistryOptions;
  cacheDir?: string;
  concurrency?: number;
  onProgress?: ProgressListener;
}

export interface BundleArtifact {
  /** Absolute path. */
  path: string;
  /** Path relative to the output directory (single mode: the base name). */
  name: string;
  /** Platforms inside, as requested. */
  platforms: string[];
  /** Architecture of the first platform: picks the sha256sum-<arch>.txt file. */
  architecture: string;
  set: string;
  compression: ArchiveCompression;
  bytes: number;
  /** Uncompressed tar size. */
  tarBytes: number;
  frames?: number;
  sha256: string;
  /** Absolute path of the `<name>.txt` image list, when written. */
  imageList?: string;
  images: PackedImage[];
}

export interface BundleResult {
  layers: LayerMode;
  artifacts: BundleArtifact[];
  /** Absolute paths of the sha256sum files written. */
  checksumFiles: string[];
  skipped: Array<{ reference: string; platform: string; available: string[] }>;
  /** Input archives that were decompressed into a scratch file to be read (gzip, one-frame zstd, ...); an airpack bundle never is. */
  spilled: string[];
}

interface PlannedArtifact {
  name: string;
  set: string;
  refs: ImageInput[];
  specs: PlatformSpec[];
}

function envValue(env: BundleOptions['env'], key: string): string | undefined {
  const v = env?.[key]?.trim();
  return v ? v : undefined;
}

/** Platforms from options, else from BUILD_OS x BUILD_ARCH (Windows: amd64 x BUILD_WINDOWS_VERSION), else linux/amd64. */
export function bundlePlatforms(options: Pick<BundleOptions, 'platforms' | 'env'>): PlatformSpec[] {
  if (options.platforms && options.platforms.length > 0) return options.platforms.map((p) => (typeof p === 'string' ? parsePlatform(p) : p));
  const oses = envList(envValue(options.env, 'BUILD_OS'));
  if (oses.length === 0) return [parsePlatform('linux/amd64')];
  const arches = envList(envValue(options.env, 'BUILD_ARCH'));
  const winvers = envList(envValue(options.env, 'BUILD_WINDOWS_VERSION'));
  const specs: PlatformSpec[] = [];
  for (const os of oses) {
    if (os === 'windows') {
      // Windows images are amd64 only; the arch list is for the other systems.
      if (winvers.length === 0) throw new AirpackError('INVALID_ARGUMENT', 'BUILD_OS names windows but BUILD_WINDOWS_VERSION is empty; set it, e.g. BUILD_WINDOWS_VERSION="ltsc2022"');
      for (const v of winvers) specs.push(parsePlatform(`windows/amd64:${v}`));
    } else {
      for (const arch of arches.length > 0 ? arches : ['amd64']) specs.push(parsePlatform(`${os}/${arch}`));
    }
  }
  return specs;
}

function toRefs(images: ReadonlyArray<string | ImageInput>): ImageInput[] {
  return parseInputs({ images, platforms: [] }).refs;
}

function plan(options: BundleOptions, specs: readonly PlatformSpec[]): PlannedArtifact[] {
  const patterns: NamePatterns = options.preset
    ? { ...PRESET_PATTERNS[options.preset] }
    : { linux: options.name ?? '', windows: options.name ?? '' };
  if (!options.preset && !options.name) throw new AirpackError('INVALID_ARGUMENT', 'an output directory needs --preset rke2|velero or a --name pattern');
  if (options.name) patterns.linux = patterns.windows = options.name;
  if (options.windowsName) patterns.windows = options.windowsName;
  const vars = {
    prog: options.prog ?? envValue(options.env, 'PROG') ?? 'rke2',
    bin: options.bin ?? envValue(options.env, 'BIN') ?? 'velero',
    version: options.version ?? envValue(options.env, 'VERSION') ?? 'main',
  };
  const sets: ImageSet[] = [];
  if ((options.images && options.images.length > 0) || (options.windowsImages && options.windowsImages.length > 0)) {
    sets.push({ name: '', images: options.images ?? [], ...(options.windowsImages ? { windowsImages: options.windowsImages } : {}) });
  }
  sets.push(...(options.sets ?? []));
  if (sets.length === 0) throw new AirpackError('INVALID_ARGUMENT', 'no images given; expected at least one reference or an --images list');

  const planned: PlannedArtifact[] = [];
  const seen = new Map<string, string>();
  for (const set of sets) {
    const setName = set.name ?? '';
    for (const spec of specs) {
      if (options.preset === 'velero' && spec.os === 'windows' && spec.architecture !== 'amd64') {
        throw new AirpackError('INVALID_ARGUMENT', `velero publishes Windows images for amd64 only, not ${formatPlatform(spec)}`);
      }
      const list = spec.os === 'windows' && set.windowsImages ? set.windowsImages : set.images;
      if (list.length === 0) continue;
      const name = expandName(patternFor(patterns, spec), spec, { ...vars, set: setName });
      const clash = seen.get(name);
      if (clash) throw new AirpackError('INVALID_ARGUMENT', `artifact name "${name}" is produced twice (${clash} and ${formatPlatform(spec)}); add {platform}, {variant} or {set} to the pattern`);
      seen.set(name, formatPlatform(spec));
      planned.push({ name, set: setName, refs: toRefs(list), specs: [spec] });
    }
  }
  return planned;
}

/** Progress events with the staging path of a file replaced by where it will be. */
function namedAs(listener: ProgressListener, staged: string, final: string): ProgressListener {
  const rename = (text: string | undefined): string | undefined => text?.split(staged).join(final);
  return (event) => {
    if (event.type === 'writing') return listener({ ...event, output: rename(event.output)! });
    if (event.type === 'phase' && event.what !== undefined) return listener({ ...event, what: rename(event.what)! });
    listener(event);
  };
}

async function writeArtifact(
  session: Session,
  options: BundleOptions,
  layers: LayerMode,
  target: { path: string; final: string; name: string; set: string; refs: ImageInput[]; specs: PlatformSpec[] },
  skipped: BundleResult['skipped'],
): Promise<BundleArtifact> {
  const compression = options.compression ?? compressionForName(target.path);
  await mkdir(path.dirname(target.path), { recursive: true });
  const sink = openSink(target.path, {
    compression,
    layersThroughStore: session.keepsBlobs,
    // Progress names the file where it will be, not its staging copy.
    ...(options.onProgress ? { onProgress: namedAs(options.onProgress, target.path, target.final) } : {}),
    ...(options.level !== undefined ? { level: options.level } : {}),
    ...(options.frameSize !== undefined ? { frameSize: options.frameSize } : {}),
  });
  const packed = await pack(session, target.refs, target.specs, sink, { layers, skipMissing: options.skipMissing ?? false });
  for (const m of packed.missing) skipped.push({ reference: m.label ?? formatReference(m.ref), platform: formatPlatform(m.spec), available: m.available });
  const artifact: BundleArtifact = {
    path: target.path,
    name: target.name,
    platforms: target.specs.map(formatPlatform),
    architecture: (target.specs[0] as PlatformSpec).architecture,
    set: target.set,
    compression,
    bytes: (await stat(target.path)).size,
    tarBytes: packed.written.tarBytes,
    sha256: await sha256File(target.path),
    images: describeImages(packed.images),
  };
  if (packed.written.frames !== undefined) artifact.frames = packed.written.frames;
  return artifact;
}

/** `<name>.txt` beside each artifact: its references, one a line, in order. */
export async function writeImageLists(artifacts: BundleArtifact[]): Promise<void> {
  for (const a of artifacts) {
    const listPath = path.join(path.dirname(a.path), imageListName(path.basename(a.path)));
    const refs = [...new Set(a.images.map((i) => i.reference))];
    await writeFile(listPath, refs.map((r) => `${r}\n`).join(''));
    a.imageList = listPath;
  }
}

/** `sha256sum-<arch>.txt` per directory and architecture, over artifacts and their image lists; returns the files written. */
export async function writeChecksumFiles(artifacts: readonly BundleArtifact[]): Promise<string[]> {
  const groups = new Map<string, Array<{ name: string; sha256: string }>>();
  const add = (file: string, sha256: string, arch: string): void => {
    const key = path.join(path.dirname(file), checksumFileName(arch));
    groups.set(key, [...(groups.get(key) ?? []), { name: path.basename(file), sha256 }]);
  };
  for (const a of artifacts) {
    add(a.path, a.sha256, a.architecture);
    if (a.imageList) add(a.imageList, await sha256File(a.imageList), a.architecture);
  }
  for (const [file, entries] of groups) await writeFile(file, formatSha256Sums(entries));
  return [...groups.keys()];
}

/**
 * A bundle written but not yet in place: its files (artifacts, image lists,
 * checksum files) sit in a StagingArea until `commitBundles` moves them, with
 * those of any other bundle of the same release, into place together.
 */
export interface StagedBundle {
  result: BundleResult;
}

/** Build one archive (`output`) or a release set (`outputDir` + `preset`/`name`), all or nothing. */
export async function bundle(options: BundleOptions): Promise<BundleResult> {
  const area = new StagingArea();
  try {
    const staged = await bundleStaged(options, area);
    await commitBundles(area, [staged]);
    return staged.result;
  } finally {
    await area.discard();
  }
}

/**
 * Moves staged bundles into place, with `checksumFiles` staged over them (bundleRelease's, over all
 * of its bundles), all or none: artifacts first, their lists next, the checksum files that vouch
 * for both last. The results then name the files where they are; returns `checksumFiles` so named.
 */
export async function commitBundles(area: StagingArea, staged: readonly StagedBundle[], checksumFiles: readonly string[] = []): Promise<string[]> {
  const artifacts = staged.flatMap((s) => s.result.artifacts);
  const own = staged.flatMap((s) => s.result.checksumFiles);
  await area.commit([...artifacts.map((a) => a.path), ...artifacts.flatMap((a) => (a.imageList ? [a.imageList] : [])), ...own, ...checksumFiles]);
  for (const a of artifacts) {
    a.path = area.final(a.path);
    if (a.imageList) a.imageList = area.final(a.imageList);
  }
  for (const s of staged) s.result.checksumFiles = s.result.checksumFiles.map((f) => area.final(f));
  return checksumFiles.map((f) => area.final(f));
}

/** What a bundle will write, checked before any work (see planBundle). */
export interface BundlePlan {
  outputDir: string;
  planned: PlannedArtifact[];
  /** Every file it puts in place but the checksum files (shared in a release): artifacts and their image lists, as full paths. */
  files: string[];
}

/** The files of a bundle and every check that needs no work (names, formats, levels, what is in the way); throws exit 2. */
export function planBundle(options: BundleOptions): BundlePlan {
  if (!!options.output === !!options.outputDir) throw new AirpackError('INVALID_ARGUMENT', 'give exactly one of an output file (-o) or an output directory (--output-dir)');
  const specs = bundlePlatforms(options);
  let planned: PlannedArtifact[];
  let outputDir: string;
  if (options.output) {
    if (options.preset || options.name || (options.sets && options.sets.length > 0)) {
      throw new AirpackError('INVALID_ARGUMENT', '--preset, --name and image sets need --output-dir, not -o');
    }
    checkOutputFile(options.output);
    const output = path.resolve(options.output);
    outputDir = path.dirname(output);
    planned = [{ name: path.basename(output), set: '', refs: toRefs([...(options.images ?? []), ...(options.windowsImages ?? [])]), specs }];
  } else {
    checkOutputDir(options.outputDir as string);
    outputDir = path.resolve(options.outputDir as string);
    planned = plan(options, specs);
    // Every file the set will put in place, checked before any work: a directory in the way
    // would otherwise fail the last rename, after everything was built.
    const sideFiles = options.sideFiles !== false;
    for (const p of planned) {
      const names = [p.name, ...(sideFiles ? [path.join(path.dirname(p.name), imageListName(path.basename(p.name))), path.join(path.dirname(p.name), checksumFileName(p.specs[0]!.architecture))] : [])];
      for (const name of names) {
        if (statSync(path.join(outputDir, name), { throwIfNoEntry: false })?.isDirectory()) {
          throw new AirpackError('INVALID_ARGUMENT', `--output-dir ${options.outputDir}: ${name} is a directory [expected room for a file of that name]`);
        }
      }
    }
  }
  // Each name's format and the level for it, checked before any work (and named as the user will see it).
  for (const p of planned) {
    const final = path.join(outputDir, p.name);
    checkCompressionLevel(outputCompression(final, options.compression), options.level, final);
  }
  const lists = options.outputDir && options.sideFiles !== false;
  const files = planned.flatMap((p) => {
    const final = path.join(outputDir, p.name);
    return lists ? [final, path.join(path.dirname(final), imageListName(path.basename(final)))] : [final];
  });
  return { outputDir, planned, files };
}

/**
 * `bundle`, with its files left in `area` until commitBundles (bundleRelease commits all bundles at once); the caller
 * discards `area` on failure. `plan` is planBundle's for these options (bundleRelease plans every bundle first).
 */
export async function bundleStaged(options: BundleOptions, area: StagingArea, plan: BundlePlan = planBundle(options)): Promise<StagedBundle> {
  const layers = options.layers ?? 'uncompressed';
  const skipped: BundleResult['skipped'] = [];
  const { outputDir, planned } = plan;
  // Written into a staging directory beside the destination, moved into place when all is built.
  const staging = await area.at(outputDir);
  const targets = planned.map((p) => ({ ...p, path: staging.path(p.name), final: path.join(outputDir, p.name) }));

  const artifacts: BundleArtifact[] = [];
  let spilled: string[] = [];
  let checksumFiles: string[] = [];
  const session = await openSession(options);
  try {
    for (const target of targets) artifacts.push(await writeArtifact(session, options, layers, target, skipped));
    spilled = await session.spilled();
  } finally {
    await session.cleanup();
  }
  if (options.outputDir && options.sideFiles !== false) {
    await writeImageLists(artifacts);
    if (options.checksums !== false) checksumFiles = await writeChecksumFiles(artifacts);
  }
  return { result: { layers, artifacts, checksumFiles, skipped, spilled } };
}
