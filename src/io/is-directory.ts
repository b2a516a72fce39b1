/** Whether a path is a directory (symlinks followed); false when it does not exist or cannot be read. */
import { stat } from 'node:fs/promises';

export async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}
