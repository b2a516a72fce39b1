import { posix } from 'node:path';

/**
 * An entry's name as archives mean it: `./blobs/x`, `blobs//x` and `blobs/x`
 * are one entry (`tar -C dir -cf x.tar .` writes the first), and a directory's
 * trailing slash is dropped. Every lookup by entry name goes through here.
 */
export function entryName(name: string): string {
  const norm = posix.normalize(name);
  return norm === '.' || norm === './' ? '' : norm.replace(/^\.\//, '').replace(/\/$/, '');
}
