/** `airpack verify`: every blob, manifest and config of archives, and their checksum files. */
import type { Argv } from 'yargs';
import { verifyArchive, verifyFailure } from '../scan/verify.js';
import { formatBytes, printJson, withProgress, type GlobalArgs } from './output.js';

export const command = 'verify <bundles..>';
export const describe = 'Check every blob digest and size, every manifest and config, index.json against manifest.json, and sha256sum-*.txt beside the file; exit 4 naming what is wrong';

export function builder(y: Argv) {
  return y
    .positional('bundles', { type: 'string', array: true, demandOption: true, describe: 'Image archives (.tar, .tar.gz, .tar.zst, .tar.bz2, .tar.lz4, .tar.xz; detected by magic bytes) or OCI layout directories' })
    .example('$0 verify rke2-images.linux-amd64.tar.zst', 'before carrying it on site')
    .example('$0 verify dist/*.tar.zst --json', 'machine-readable');
}

interface VerifyArgs extends GlobalArgs {
  bundles: string[];
}

export async function handler(args: VerifyArgs): Promise<void> {
  const results = await withProgress('verify', args, (onProgress) => verifyArchive(args.bundles, { onProgress }), (rs) => {
    const failed = rs.filter((r) => !r.ok).length;
    return `verified ${rs.length} file(s): ${failed === 0 ? 'all ok' : `${failed} FAILED`}, ${rs.reduce((n, r) => n + r.images, 0)} image(s), ${formatBytes(rs.reduce((n, r) => n + r.blobBytes, 0))} hashed`;
  });
  if (args.json) printJson(results);
  else {
    for (const r of results) {
      for (const w of r.warnings) if (!args.quiet) process.stderr.write(`warning: ${w}\n`);
      for (const p of r.problems) process.stderr.write(`${p}\n`);
      if (!args.quiet) {
        process.stdout.write(
          `${r.path}: ${r.ok ? 'ok' : 'FAILED'}: ${r.images} image(s), ${r.blobs} blobs, ${formatBytes(r.blobBytes)} hashed in ${r.seconds.toFixed(2)} s${r.checksumFile ? `, checksum ${r.checksumOk ? 'matches' : 'does NOT match'} ${r.checksumFile}` : ''}\n`,
        );
      }
    }
  }
  const failure = verifyFailure(results);
  if (failure) throw failure;
}
