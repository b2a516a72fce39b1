/**
 * An output path, checked before any work: its directory must exist (we do
 * not guess at creating `nosuchdir/sub/`), and it must not be a directory
 * itself. Release-set mode creates the directories its naming pattern asks
 * for; a single `-o` is the user's path, taken as written.
 */
import { accessSync, constants, statSync } from 'node:fs';
import path from 'node:path';
import { AirpackError } from '../errors.js';

export function checkOutputFile(output: string, flag = '-o'): void {
  if (output === '') throw new AirpackError('INVALID_ARGUMENT', `${flag}: expected a file name`);
  const target = statSync(output, { throwIfNoEntry: false });
  if (target?.isDirectory()) throw new AirpackError('INVALID_ARGUMENT', `${flag} ${output}: is a directory [expected a file to write, e.g. ${path.join(output, 'images.tar')}]`);
  const dir = path.dirname(path.resolve(output));
  const parent = statSync(dir, { throwIfNoEntry: false });
  if (!parent) throw new AirpackError('INVALID_ARGUMENT', `${flag} ${output}: directory ${dir} does not exist [create it first]`);
  if (!parent.isDirectory()) throw new AirpackError('INVALID_ARGUMENT', `${flag} ${output}: ${dir} is not a directory`);
  checkWritable(dir, `${flag} ${output}`);
}

/** The temp file and its rename both need to write in `dir`. */
function checkWritable(dir: string, what: string): void {
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch {
    throw new AirpackError('INVALID_ARGUMENT', `${what}: cannot write in ${dir}: permission denied`);
  }
}

/** A directory to write in (a release set's, a blob cache): it may not exist yet (it is created), but it must not be a file. */
export function checkOutputDir(dir: string, flag = '--output-dir', purpose = 'the release artifacts'): void {
  const info = statSync(dir, { throwIfNoEntry: false });
  if (info && !info.isDirectory()) throw new AirpackError('INVALID_ARGUMENT', `${flag} ${dir}: is a file [expected a directory for ${purpose}]`);
  if (info) checkWritable(dir, flag);
}
