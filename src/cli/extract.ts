/** `airpack extract`: one image out of a bundle, as its own loadable archive. */
import { statSync } from 'node:fs';
import type { Argv } from 'yargs';
import { extractImage } from '../scan/extract.js';
import { formatBytes, printJson, withProgress, type GlobalArgs } from './output.js';

export const command = 'extract <bundle> <ref>';
export const describe = 'Write one image (one platform with --platform) of a bundle as its own image archive';

export function builder(y: Argv) {
  return y
    .positional('bundle', { type: 'string', demandOption: true, describe: 'Image archive or OCI layout directory to read' })
    .positional('ref', { type: 'string', demandOption: true, describe: 'Image reference: name[:tag] or name@sha256:...' })
    .option('platform', { alias: 'p', type: 'string', describe: 'os/arch[/variant][:osversion]; default every platform of the image' })
    .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'Archive to write (.tar, .tar.gz, .tar.zst)' })
    .example('$0 extract rke2-images.linux-amd64.tar.zst rancher/rke2-runtime:v1.30.1-rke2r1 -o runtime.tar', 'one image out of a bundle')
    .example('$0 extract multi.tar busybox:1.36 -p linux/arm64 -o busybox-arm64.tar', 'one platform of a multi-platform image');
}

interface ExtractArgs extends GlobalArgs {
  bundle: string;
  ref: string;
  platform?: string;
  output: string;
}

export async function handler(args: ExtractArgs): Promise<void> {
  const result = await withProgress(
    'extract',
    args,
    (onProgress) => extractImage(args.bundle, args.ref, { output: args.output, onProgress, ...(args.platform ? { platform: args.platform } : {}) }),
    // The file's size on disk: tarBytes is the tar before any compression.
    (r) => `wrote ${r.output}: ${r.reference} ${r.platforms.join(',')}, ${r.blobs} blobs, ${formatBytes(statSync(r.output).size)}`,
  );
  if (args.json) return printJson(result);
  if (args.quiet) return;
  process.stdout.write(`wrote ${result.output}: ${result.reference} ${result.platforms.join(',')} ${result.digest}, ${result.blobs} blobs, ${formatBytes(result.tarBytes)}\n`);
}
