/** `airpack pull`: references + platforms -> one image archive. */
import type { Argv } from 'yargs';
import { pull } from '../pack/pull.js';
import { LAYER_MODES, type LayerMode } from '../sink/image-sink.js';
import { collectReferences, fetchOptions, withFetchOptions, type FetchArgs } from './common.js';
import { formatBytes, imageCount, printJson, withProgress } from './output.js';

export const command = 'pull [refs..]';
export const describe = 'Pull images for the given platforms into one image archive (docker-archive + OCI layout, metadata first)';

export function builder(y: Argv) {
  return withFetchOptions(y)
    .positional('refs', { type: 'string', array: true, describe: 'Image references (name[:tag], name@sha256:..., name:tag@sha256:...) or archives on disk (docker-archive:PATH[:NAME], oci-archive:PATH[:NAME], oci:DIR[:NAME], ./PATH)' })
    .option('images', { type: 'string', array: true, describe: 'File with one reference per line (# comments, blank lines ignored); - for stdin' })
    .option('platform', { alias: 'p', type: 'string', array: true, default: ['linux/amd64'], describe: 'os/arch[/variant][:osversion], repeatable; e.g. windows/amd64:ltsc2022' })
    .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'Archive to write: .tar, or .tar.gz/.tgz for gzip' })
    .option('layers', { choices: LAYER_MODES, default: 'original' as LayerMode, describe: 'original: registry blobs byte for byte; uncompressed: layer tars as docker save stores them' })
    .example('$0 pull busybox:1.36 -o busybox.tar', 'linux/amd64 from Docker Hub')
    .example('$0 pull mcr.microsoft.com/windows/nanoserver:ltsc2022 -p windows/amd64:ltsc2022 -o nano.tar', 'a Windows image, foreign layers included')
    .example('$0 pull --images images.txt -p linux/amd64 -p linux/arm64 -o all.tar --json', 'an image list, two platforms, machine-readable result');
}

interface PullArgs extends FetchArgs {
  refs?: string[];
  images?: string[];
  platform: string[];
  output: string;
  layers: LayerMode;
}

export async function handler(args: PullArgs): Promise<void> {
  const result = await withProgress(
    'pull',
    args,
    (onProgress) => pull({ images: collectReferences(args.refs, args.images), platforms: args.platform, output: args.output, layers: args.layers, ...fetchOptions(args), onProgress }),
    (r) => `wrote ${r.output}: ${imageCount(r.images)}, ${formatBytes(r.bytes)}`,
  );
  if (args.json) return printJson(result);
  if (args.quiet) return;
  for (const image of result.images) {
    process.stdout.write(`${image.reference}  ${image.platform}${image.osVersion && !image.platform.includes(image.osVersion) ? ` (${image.osVersion})` : ''}  ${image.digest}  ${formatBytes(image.size)}\n`);
  }
  process.stdout.write(`wrote ${result.output}: ${imageCount(result.images)}, ${formatBytes(result.bytes)}, layers ${result.layers}\n`);
}
