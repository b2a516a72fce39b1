/** `airpack find`: which archive under some paths holds an image. */
import type { Argv } from 'yargs';
import { ExitCode } from '../errors.js';
import { findImage } from '../scan/find.js';
import { printJson } from './output.js';

export const command = 'find <ref> <paths..>';
export const describe = 'Which archive (file, or any tarball under a directory) holds an image, and for which platforms; exit 1 when none does, 4 when none does and a file is damaged, 5 when one could not be read (named on stderr)';

export function builder(y: Argv) {
  return y
    .positional('ref', { type: 'string', demandOption: true, describe: 'Image reference: name[:tag] or name@sha256:... (an index or platform manifest digest, as stored or as the source registry served it; rancher/x:v1 matches docker.io/rancher/x:v1)' })
    .positional('paths', { type: 'string', array: true, demandOption: true, describe: 'Archives or directories (walked in sorted order)' })
    .option('first', { type: 'boolean', default: false, describe: 'Stop at the first file that holds the image' })
    .example('$0 find rancher/mirrored-pause:3.6 /var/lib/rancher/rke2/agent/images', 'which tarball holds the pause image')
    .example('$0 find busybox@sha256:... bundle.tar.zst --json', 'by digest, machine-readable');
}

interface FindArgs {
  ref: string;
  paths: string[];
  first: boolean;
  json: boolean;
  quiet: boolean;
}

export async function handler(args: FindArgs): Promise<void> {
  // A file that cannot be read may be the one that holds the image: say so, on stderr.
  const onSkip = (path: string, err: Error): void => {
    if (!args.quiet) process.stderr.write(`airpack: skipped ${path}: ${err.message.startsWith(`${path}: `) ? err.message.slice(path.length + 2) : err.message}\n`);
  };
  const result = await findImage(args.ref, args.paths, { first: args.first, onSkip });
  if (args.json) printJson(result);
  else if (!args.quiet) {
    for (const m of result.matches) process.stdout.write(`${m.path}  ${m.name ?? args.ref}  ${m.platforms.join(',') || '-'}${m.digest ? `  ${m.digest}` : ''}\n`);
    if (!result.found) {
      const broken = result.skipped.filter((s) => s.unreadable).length;
      const unread = broken > 0 ? `; ${broken} could not be read` : '';
      process.stderr.write(`airpack: ${args.ref} not found in ${result.scanned} file(s)${unread}\n`);
    }
  }
  if (!result.found) {
    // Not found is an answer (exit 1), unless a file could not be read: then nobody knows. Damage is 4;
    // a file the file system would not give (permission denied) is 5, as in every other command.
    const unread = result.skipped.filter((s) => s.unreadable);
    process.exitCode = unread.length === 0 ? ExitCode.notFound : unread.some((s) => s.exitCode === ExitCode.integrity) ? ExitCode.integrity : ExitCode.io;
  }
}
