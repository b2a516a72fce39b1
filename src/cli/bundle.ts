/** `airpack bundle`: references + platforms -> one archive, or a release set of artifacts with image lists and checksums. */
import type { Argv } from 'yargs';
import { bundle, type BundleArtifact } from '../release/bundle.js';
import { bundleRelease } from '../release/release.js';
import { BUNDLE_PRESETS, type BundlePreset } from '../release/naming.js';
import type { ArchiveCompression } from '../archive/compression-name.js';
import { LAYER_MODES, type LayerMode } from '../sink/image-sink.js';
import { AirpackError } from '../errors.js';
import { collectReferences, fetchOptions, withFetchOptions, type FetchArgs } from './common.js';
import { frameSizeOption, parseByteSize } from './byte-size.js';
import { formatBytes, imageCount, printJson, withProgress } from './output.js';

export const command = 'bundle [refs..]';
export const describe = 'Pull images into zstd-framed bundles (metadata first): one file with -o, or a release set (rke2, velero naming) with --output-dir';

export function builder(y: Argv) {
  return withFetchOptions(y)
    .positional('refs', { type: 'string', array: true, describe: 'Image references (name[:tag], name@sha256:..., name:tag@sha256:...) or archives on disk (docker-archive:PATH[:NAME], oci-archive:PATH[:NAME], oci:DIR[:NAME], ./PATH)' })
    .option('release', { type: 'string', describe: 'Build every bundle a release description (airpack.yaml, or .json) declares; see the README' })
    .option('images', { type: 'string', array: true, describe: 'File with one reference per line (# comments, blank lines ignored); - for stdin' })
    .option('set', { type: 'string', array: true, describe: 'A named image set NAME=LIST (repeatable; release sets only): rke2\'s images-NAME.txt -> <prog>-images-NAME.<os>-<arch>.tar.zst' })
    .option('windows-images', { type: 'string', array: true, describe: 'Image list for Windows platforms (default: the same images as for the others)' })
    .option('platform', { alias: 'p', type: 'string', array: true, describe: 'os/arch[/variant][:osversion], repeatable (default: BUILD_OS x BUILD_ARCH, Windows BUILD_WINDOWS_VERSION; else linux/amd64)' })
    .option('output', { alias: 'o', type: 'string', describe: 'One archive with every platform; the format from the name (.tar.zst/.tzst, .tar.gz/.tgz, .tar)' })
    .option('output-dir', { type: 'string', describe: 'Write a release set here: one artifact per platform, <name>.txt image lists, sha256sum-<arch>.txt' })
    .option('preset', { choices: BUNDLE_PRESETS, describe: 'Artifact names: rke2 (<prog>-images.<os>-<arch>.tar.zst) or velero (_output/<bin>-<version>-<os>-<arch>.tar)' })
    .option('name', { type: 'string', describe: 'Artifact name pattern: {prog} {bin} {version} {os} {arch} {variant} {winver} {platform} {set} {-set}' })
    .option('windows-name', { type: 'string', describe: 'Name pattern for Windows platforms (default: --name or the preset\'s)' })
    .option('prog', { type: 'string', describe: '{prog} (default: env PROG, else rke2)' })
    .option('bin', { type: 'string', describe: '{bin} (default: env BIN, else velero)' })
    .option('artifact-version', { type: 'string', describe: '{version} in artifact names (default: env VERSION, else main); --version prints airpack\'s own' })
    .option('layers', { choices: LAYER_MODES, describe: 'uncompressed: layer tars as docker save stores them (smaller bundles); original: registry blobs byte for byte [default: uncompressed]' })
    .option('compression', { choices: ['none', 'gzip', 'zstd'] as const, describe: 'Compression for a name that does not say it (default: from each file name; a name that says another format is refused)' })
    .option('level', { type: 'number', requiresArg: true, describe: 'Compression level: zstd 1-22 (default 16, as rke2), gzip 1-9 (default 6)' })
    .option('frame-size', frameSizeOption('256M', 'the layers are cut into frames of about equal work, at layer boundaries where one is near'))
    .example('$0 bundle busybox:1.36 -p linux/amd64 -p linux/arm64 -o busybox.tar.zst', 'one zstd bundle, two platforms')
    .example('$0 bundle --images images.txt -p linux/amd64 -p windows/amd64:ltsc2022 --output-dir dist/artifacts --preset rke2', 'rke2-images.linux-amd64.tar.zst, rke2-windows-ltsc2022-amd64-images.tar.zst, lists, sha256sum-amd64.txt')
    .example('$0 bundle --images images.txt --set canal=images-canal.txt --output-dir dist/artifacts --preset rke2', 'also rke2-images-canal.linux-amd64.tar.zst')
    .example('$0 bundle oci:out/app-oci docker-archive:saved.tar:example.com/app:1.2 -p linux/amd64 -o app.tar.zst', 'images from a buildx OCI layout and a docker save tar')
    .example('$0 bundle --release airpack.yaml', 'every bundle a release declares, one blob cache, one sha256sum file per arch')
    .example('BUILD_OS="linux windows" BUILD_ARCH=amd64 BUILD_WINDOWS_VERSION=ltsc2022 VERSION=v1.14.0 $0 bundle velero/velero:v1.14.0 --output-dir . --preset velero', 'velero\'s _output/velero-v1.14.0-linux-amd64.tar and ...-windows-ltsc2022-amd64.tar');
}

interface BundleArgs extends FetchArgs {
  release?: string;
  refs?: string[];
  images?: string[];
  'windows-images'?: string[];
  set?: string[];
  platform?: string[];
  output?: string;
  'output-dir'?: string;
  preset?: BundlePreset;
  name?: string;
  'windows-name'?: string;
  prog?: string;
  bin?: string;
  'artifact-version'?: string;
  layers?: LayerMode;
  compression?: ArchiveCompression;
  level?: number;
  'frame-size'?: string;
}

export async function handler(args: BundleArgs): Promise<void> {
  // Options that would be silently ignored are refused, naming them, before any work.
  const given = (names: ReadonlyArray<keyof BundleArgs>): string[] =>
    names.filter((n) => args[n] !== undefined && !(Array.isArray(args[n]) && (args[n] as unknown[]).length === 0)).map((n) => `--${String(n)}`);
  if (args.release) {
    if ((args.refs ?? []).length > 0 || args.images || args.output || args['output-dir']) {
      throw new AirpackError('INVALID_ARGUMENT', '--release declares images and outputs itself; drop the references, --images, -o and --output-dir');
    }
    const declared = given(['platform', 'preset', 'name', 'windows-name', 'windows-images', 'set', 'prog', 'bin', 'artifact-version', 'layers', 'compression', 'level', 'frame-size']);
    if (declared.length > 0) throw new AirpackError('INVALID_ARGUMENT', `--release declares ${declared.join(', ')} per bundle itself (see the README's release description); drop ${declared.length > 1 ? 'them' : 'it'} from the command line`);
  }
  if (args.output) {
    const naming = given(['prog', 'bin', 'artifact-version', 'windows-name']);
    if (naming.length > 0) throw new AirpackError('INVALID_ARGUMENT', `${naming.join(', ')} name${naming.length > 1 ? '' : 's'} the artifacts of a release set (--output-dir); with -o the file is named by -o`);
  }
  if (args.release) {
    const release = await withProgress('bundle', args, (onProgress) => bundleRelease(args.release!, { env: process.env, ...fetchOptions(args), onProgress }), (r) =>
      artifactsSummary(r.bundles.flatMap((b) => b.artifacts), r.checksumFiles),
    );
    return printArtifacts(release, release.bundles.flatMap((b) => b.artifacts), release.checksumFiles, args);
  }
  const windowsImages = args['windows-images'] ? collectReferences([], args['windows-images']) : undefined;
  const sets = (args.set ?? []).map((s) => {
    const eq = s.indexOf('=');
    if (eq <= 0 || eq === s.length - 1) throw new AirpackError('INVALID_ARGUMENT', `--set ${s}: expected NAME=LIST, e.g. --set canal=images-canal.txt`);
    return { name: s.slice(0, eq), images: collectReferences([], [s.slice(eq + 1)]) };
  });
  const options = {
    images: collectReferences(args.refs, args.images),
    ...(windowsImages ? { windowsImages } : {}),
    ...(sets.length > 0 ? { sets } : {}),
    ...(args.platform ? { platforms: args.platform } : {}),
    ...(args.output ? { output: args.output } : {}),
    ...(args['output-dir'] ? { outputDir: args['output-dir'] } : {}),
    ...(args.preset ? { preset: args.preset } : {}),
    ...(args.name ? { name: args.name } : {}),
    ...(args['windows-name'] ? { windowsName: args['windows-name'] } : {}),
    ...(args.prog ? { prog: args.prog } : {}),
    ...(args.bin ? { bin: args.bin } : {}),
    ...(args['artifact-version'] ? { version: args['artifact-version'] } : {}),
    ...(args.compression ? { compression: args.compression } : {}),
    ...(args['frame-size'] !== undefined ? { frameSize: parseByteSize(args['frame-size']) } : {}),
    env: process.env,
    ...(args.layers ? { layers: args.layers } : {}),
    ...(args.level !== undefined ? { level: args.level } : {}),
    ...fetchOptions(args),
  };
  const result = await withProgress('bundle', args, (onProgress) => bundle({ ...options, onProgress }), (r) => artifactsSummary(r.artifacts, r.checksumFiles));
  printArtifacts(result, result.artifacts, result.checksumFiles, args);
}

/** The closing progress line: what was written (one artifact by name, several by count), its images and bytes on disk. */
function artifactsSummary(artifacts: readonly BundleArtifact[], checksumFiles: readonly string[]): string {
  const what = artifacts.length === 1 ? artifacts[0]!.name : `${artifacts.length} artifacts`;
  const sums = checksumFiles.length > 0 ? ` and ${checksumFiles.length} checksum file(s)` : '';
  return `wrote ${what}${sums}: ${imageCount(artifacts.flatMap((a) => a.images))}, ${formatBytes(artifacts.reduce((n, a) => n + a.bytes, 0))}`;
}

function printArtifacts(result: unknown, artifacts: readonly BundleArtifact[], checksumFiles: readonly string[], args: BundleArgs): void {
  if (args.json) return printJson(result);
  if (args.quiet) return;
  for (const a of artifacts) process.stdout.write(`${a.name}  ${a.platforms.join(',')}  ${imageCount(a.images)}  ${formatBytes(a.bytes)}  sha256:${a.sha256}\n`);
  for (const file of checksumFiles) process.stdout.write(`wrote ${file}\n`);
}
