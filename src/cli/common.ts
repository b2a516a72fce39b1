/**
 * Options shared by commands that talk to registries, and their translation
 * into library options. Credentials are never options: they come from the
 * docker/podman credential files and helpers.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Argv } from 'yargs';
import { AirpackError, fileErrorText } from '../errors.js';
import { parseImageList, type ImageInput } from '../ref/input.js';
import type { RegistryOptions } from '../registry/client.js';
import { DEFAULT_CONCURRENCY } from '../pack/session.js';
import type { GlobalArgs } from './output.js';
import { checkOutputDir } from '../io/output-path.js';

export interface RegistryArgs {
  insecure?: string[];
  'ca-file'?: string;
}

export function withRegistryOptions<T>(y: Argv<T>) {
  return y
    .option('insecure', {
      type: 'string',
      array: true,
      describe: 'Registry host allowed over plain http or with an unverified certificate (repeatable); localhost, ::1 and 127.0.0.0/8 always are',
    })
    .option('ca-file', { type: 'string', describe: 'PEM file with extra CA certificates to trust' });
}

/** Options of every command that downloads images (pull, bundle). */
export interface FetchArgs extends RegistryArgs, GlobalArgs {
  'skip-missing'?: boolean;
  'cache-dir'?: string;
  concurrency?: number;
}

export function withFetchOptions<T>(y: Argv<T>) {
  return withRegistryOptions(y)
    // No yargs defaults here: a default would override the same field of a release description.
    .option('skip-missing', { type: 'boolean', describe: 'Warn and go on when an image lacks a requested platform [default: false]' })
    .option('cache-dir', { type: 'string', describe: 'Keep verified blobs here between runs' })
    .option('concurrency', { type: 'number', requiresArg: true, coerce: positiveInteger('concurrency'), describe: `Blob downloads in parallel [default: ${DEFAULT_CONCURRENCY}]` });
}

/** A yargs coerce for counts: `--concurrency 0` or `1.5` is refused before any work, naming the option. */
export function positiveInteger(flag: string): (value: unknown) => number | undefined {
  return (value) => {
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > 1024) throw new AirpackError('INVALID_ARGUMENT', `--${flag} ${Number.isNaN(n) ? 'is not a number' : String(value)}: expected a whole number from 1 to 1024`);
    return n;
  };
}

/** The library options FetchArgs stand for; only those given (the library has the defaults). */
export function fetchOptions(args: FetchArgs): { registry: RegistryOptions; concurrency?: number; skipMissing?: boolean; cacheDir?: string } {
  if (args['cache-dir']) checkOutputDir(args['cache-dir'], '--cache-dir', 'verified blobs');
  return {
    registry: registryOptions(args),
    ...(args.concurrency !== undefined ? { concurrency: args.concurrency } : {}),
    ...(args['skip-missing'] !== undefined ? { skipMissing: args['skip-missing'] } : {}),
    ...(args['cache-dir'] ? { cacheDir: args['cache-dir'] } : {}),
  };
}

export function registryOptions(args: RegistryArgs): RegistryOptions {
  const options: RegistryOptions = { insecureHosts: args.insecure ?? [] };
  if (args['ca-file']) {
    try {
      options.ca = readFileSync(args['ca-file']);
    } catch (err) {
      throw new AirpackError('INVALID_ARGUMENT', `--ca-file ${args['ca-file']}: cannot read it: ${fileErrorText(err as NodeJS.ErrnoException)}`, { cause: err });
    }
  }
  return options;
}

/** References from the command line plus any `--images` list files (parsed here, so a bad line is reported with its file and line number). */
export function collectReferences(refs: readonly string[] | undefined, lists: readonly string[] | undefined): Array<string | ImageInput> {
  const out: Array<string | ImageInput> = [...(refs ?? [])];
  for (const file of lists ?? []) {
    let text: string;
    try {
      if (file === '-' && process.stdin.isTTY) {
        throw new AirpackError('INVALID_ARGUMENT', '--images -: reads the list from stdin, and stdin is a terminal [pipe it in (cat images.txt | airpack ...), or name the file]');
      }
      text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
    } catch (err) {
      throw new AirpackError('INVALID_ARGUMENT', `--images ${file}: cannot read it: ${fileErrorText(err as NodeJS.ErrnoException)}`, { cause: err });
    }
    // Archive paths in a list file are relative to it.
    const listed = parseImageList(text, file, file === '-' ? undefined : path.dirname(path.resolve(file)));
    // An empty list is a pipeline's mistake (a list generated empty), not "no images given".
    if (listed.length === 0) throw new AirpackError('INVALID_ARGUMENT', `--images ${file === '-' ? 'stdin' : file}: lists no images [expected one reference a line; it has only ${text.trim() === '' ? 'nothing' : 'comments and blank lines'}]`);
    out.push(...listed);
  }
  return out;
}
