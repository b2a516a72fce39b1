/** `airpack ls`: what archives hold. */
import type { Argv } from 'yargs';
import { listArchive } from '../scan/list.js';
import { formatBytes, printJson } from './output.js';

export const command = 'ls <bundles..>';
export const describe = 'List the images of archives: names, digests, platforms (with Windows os.version) and sizes';

export function builder(y: Argv) {
  return y
    .positional('bundles', { type: 'string', array: true, demandOption: true, describe: 'Image archives (.tar, .tar.gz, .tar.zst, .tar.bz2, .tar.lz4, .tar.xz; detected by magic bytes) or OCI layout directories' })
    .example('$0 ls rke2-images.linux-amd64.tar.zst', 'what a bundle holds')
    .example('$0 ls *.tar.zst --json', 'machine-readable');
}

interface LsArgs {
  bundles: string[];
  json: boolean;
  quiet: boolean;
}

export async function handler(args: LsArgs): Promise<void> {
  const listings = await listArchive(args.bundles);
  if (args.json) return printJson(listings);
  if (args.quiet) return;
  for (const l of listings) {
    const format = l.directory ? 'OCI layout directory' : `${l.compression === 'none' ? 'uncompressed tar' : l.compression}${l.seekTable ? ' (seekable)' : ''}, ${formatBytes(l.fileSize)}`;
    process.stdout.write(`${l.path}: ${l.images.length} image(s), ${format}\n`);
    for (const image of l.images) {
      const name = image.names[0] ?? image.repoTags[0] ?? (image.refTag ? `<no repository>:${image.refTag}` : '<untagged>');
      process.stdout.write(`  ${name}${image.digest ? `  ${image.digest}` : ''}${image.size !== undefined ? `  ${formatBytes(image.size)}` : ''}\n`);
      for (const extra of image.names.slice(1)) process.stdout.write(`    also ${extra}\n`);
      for (const p of image.platforms) {
        process.stdout.write(`    ${p.platform ?? '?'}${p.osVersion && !p.platform?.includes(p.osVersion) ? ` (${p.osVersion})` : ''}${p.manifestDigest ? `  ${p.manifestDigest}` : ''}${p.size !== undefined ? `  ${formatBytes(p.size)}` : ''}\n`);
      }
    }
  }
}
