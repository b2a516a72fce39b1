/** `airpack version`: the version, as `--version` prints it anywhere on the line. */
import { readFileSync } from 'node:fs';
import { printJson } from './output.js';

export const command = 'version';
export const describe = "Print airpack's version (as --version does)";

export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export function handler(args: { json: boolean }): void {
  if (args.json) printJson({ version: packageVersion(), node: process.versions.node });
  else process.stdout.write(`${packageVersion()}\n`);
}
