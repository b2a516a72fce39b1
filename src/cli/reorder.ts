/** `airpack reorder`: any image tarball -> the same entries, metadata first, byte for byte. */
import type { Argv } from 'yargs';
import { reorderArchive } from '../reorder/reorder-output.js';
import type { ArchiveCompression } from '../archive/compression-name.js';
import { frameSizeOption, parseByteSize } from './byte-size.js';
import { printJson } from './output.js';
import { AirpackError } from '../errors.js';

export const command = 'reorder [input]';
export const describe = 'Rewrite an image tarball so manifest.json, repositories, index.json and oci-layout come first; other entries unchanged, byte for byte';

export function builder(y: Argv) {
  return y
    .positional('input', { type: 'string', default: '-', describe: 'Tarball to read (plain, gzip, zstd, bzip2, lz4 or xz, detected by magic bytes), or an OCI layout directory; - for stdin' })
    .option('output', { alias: 'o', type: 'string', describe: 'Tarball to write; - for stdout (the default when stdout is not a terminal)' })
    .option('compression', { choices: ['none', 'gzip', 'zstd'] as const, describe: 'Output compression (default: from the output name, .tar.zst / .tar.gz; none for stdout)' })
    .option('level', { type: 'number', requiresArg: true, describe: 'Compression level: zstd 1-22 (default 16), gzip 1-9 (default 6)' })
    .option('frame-size', frameSizeOption('128M', 'cut every SIZE bytes'))
    .example('$0 reorder images.tar -o images.reordered.tar', 'docker save output, metadata moved to the front')
    .example('docker save busybox | $0 reorder > busybox.tar', 'stdin to stdout')
    .example('$0 reorder images.tar -o rke2-images.linux-amd64.tar.zst', 'reorder and compress into zstd frames, metadata in frame 0')
    .example('$0 reorder ./layout -o app.oci.tar', 'an OCI layout directory (buildx type=oci,tar=false) as a tar, index.json first');
}

interface ReorderArgs {
  input: string;
  output?: string;
  compression?: ArchiveCompression;
  level?: number;
  'frame-size'?: string;
  json: boolean;
  quiet: boolean;
}

export async function handler(args: ReorderArgs): Promise<void> {
  // A tar to a terminal is a screen of noise, and a terminal as input waits for bytes nobody will type.
  if (args.output === undefined && process.stdout.isTTY) {
    throw new AirpackError('INVALID_ARGUMENT', 'reorder writes a tar, and stdout is a terminal: give -o FILE (or -o - to write it there anyway)');
  }
  if (args.input === '-' && process.stdin.isTTY) {
    throw new AirpackError('INVALID_ARGUMENT', 'reorder reads a tar from stdin, and stdin is a terminal: name the input file, or pipe one in (docker save IMAGE | airpack reorder -o OUT)');
  }
  const output = args.output ?? '-';
  const toStdout = output === '-';
  const result = await reorderArchive(args.input, toStdout ? process.stdout : output, {
    ...(args.compression ? { compression: args.compression } : {}),
    ...(args.level !== undefined ? { level: args.level } : {}),
    ...(args['frame-size'] !== undefined ? { frameSize: parseByteSize(args['frame-size']) } : {}),
  });
  // stdout carries the tar when writing there: the summary goes to stderr then.
  if (args.json) {
    if (toStdout) process.stderr.write(`${JSON.stringify(result)}\n`);
    else printJson(result);
    return;
  }
  if (args.quiet) return;
  const line = `reordered ${args.input === '-' ? 'stdin' : args.input} -> ${result.output}: ${result.entries} entries, front ${result.front.join(', ') || '(none)'}\n`;
  (toStdout ? process.stderr : process.stdout).write(line);
}
