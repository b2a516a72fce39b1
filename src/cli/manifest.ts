/**
 * `airpack manifest create|annotate|inspect|push|rm`: manifest lists over
 * per-platform images in a registry, step for step as `docker manifest`
 * (velero's Makefile maps one to one; see the README).
 */
import type { Argv } from 'yargs';
import { annotateList, createList, inspectManifest, pushList, removeLists, type PlatformOverrides, type PushedList } from '../manifest/manifest.js';
import type { LocalList } from '../manifest/local-lists.js';
import { formatPlatform } from '../platform/platform.js';
import { registryOptions, withRegistryOptions, type RegistryArgs } from './common.js';
import { printJson } from './output.js';

export const command = 'manifest';
export const describe = 'Build and push manifest lists (multi-platform tags) over per-platform images in a registry, as docker manifest does';

interface ManifestArgs extends RegistryArgs {
  json: boolean;
  quiet: boolean;
  os?: string;
  arch?: string;
  variant?: string;
  'os-version'?: string;
  'os-version-from'?: string;
}

function withPlatformOptions<T>(y: Argv<T>) {
  return y
    .option('os', { type: 'string', describe: 'Set the operating system (linux, windows)' })
    .option('arch', { type: 'string', describe: 'Set the architecture (amd64, arm64, ...)' })
    .option('variant', { type: 'string', describe: 'Set the architecture variant (v7, v8); empty clears it' })
    .option('os-version', { type: 'string', describe: 'Set os.version (Windows: 10.0.20348.2227)' })
    .option('os-version-from', { type: 'string', describe: "Take os.version from this image (velero: the Windows base image)", conflicts: 'os-version' });
}

function overrides(args: ManifestArgs): PlatformOverrides {
  const o: PlatformOverrides = {};
  if (args.os !== undefined) o.os = args.os;
  if (args.arch !== undefined) o.architecture = args.arch;
  if (args.variant !== undefined) o.variant = args.variant;
  if (args['os-version'] !== undefined) o.osVersion = args['os-version'];
  if (args['os-version-from'] !== undefined) o.osVersionFrom = args['os-version-from'];
  return o;
}

function printList(list: LocalList, args: ManifestArgs): void {
  if (args.json) return printJson(list);
  if (args.quiet) return;
  process.stdout.write(`${list.target}: ${list.entries.length} image(s), not pushed yet\n`);
  for (const e of list.entries) process.stdout.write(`  ${formatPlatform(e.platform).padEnd(32)} ${e.source}  ${e.digest}\n`);
}

function printPushed(pushed: PushedList, args: ManifestArgs): void {
  if (args.json) return printJson(pushed);
  if (args.quiet) return;
  const kind = pushed.mediaType.includes('docker') ? 'Docker manifest list' : 'OCI index';
  process.stdout.write(`pushed ${pushed.target}@${pushed.digest} (${kind}, ${pushed.images.length} platforms${pushed.copied ? `, ${pushed.copied} image(s) copied into its repository` : ''})\n`);
}

/** The subcommands; `run: false` gives the same command line with handlers that do nothing (checked first, cli/main.ts). */
function subcommands(run: boolean) {
  const act =
    <A>(fn: (args: A) => Promise<void>) =>
    async (args: unknown): Promise<void> => {
      if (run) await fn(args as A);
    };
  return (y: Argv) =>
    y
      .command(
        'create <target> <sources..>',
        'Start a list (or add to one with --amend) from per-platform images; each platform is read from its config',
        (c) =>
          withPlatformOptions(withRegistryOptions(c))
            .positional('target', { type: 'string', demandOption: true, describe: 'HOST/REPO:TAG the list will be pushed as' })
            .positional('sources', { type: 'string', array: true, demandOption: true, describe: 'Per-platform images in the same registry' })
            .option('amend', { type: 'boolean', default: false, describe: 'Add to the list being built, or to the one in the registry' })
            .option('push', { type: 'boolean', default: false, describe: 'Push the list at once (and forget the local copy)' })
            .example('$0 manifest create reg:5000/velero/velero:main reg:5000/velero/velero:main-linux-amd64 reg:5000/velero/velero:main-linux-arm64', ''),
        act(async (args: ManifestArgs & { target: string; sources: string[]; amend: boolean; push: boolean }) => {
          const options = { registryOptions: registryOptions(args) };
          const list = await createList(args.target, args.sources, { ...options, amend: args.amend, overrides: overrides(args) });
          // Pushed at once, it is done: the local copy goes, so the same step can run again.
          if (args.push) return printPushed(await pushList(list.target, { ...options, purge: true }), args);
          printList(list, args);
        }),
      )
      .command(
        'annotate <target> <source>',
        "Change one image's platform in a list being built (--os-version for Windows)",
        (c) =>
          withPlatformOptions(withRegistryOptions(c))
            .positional('target', { type: 'string', demandOption: true, describe: 'HOST/REPO:TAG of the list being built' })
            .positional('source', { type: 'string', demandOption: true, describe: 'An image of the list, as given to create' })
            .example('$0 manifest annotate reg:5000/velero/velero:main reg:5000/velero/velero:main-windows-ltsc2022-amd64 --os-version-from mcr.microsoft.com/windows/nanoserver:ltsc2022', ''),
        act(async (args: ManifestArgs & { target: string; source: string }) => {
          printList(await annotateList(args.target, args.source, overrides(args), { registryOptions: registryOptions(args) }), args);
        }),
      )
      .command(
        'inspect <reference>',
        'Print a list being built, or a manifest or list from a registry, as JSON',
        (c) => withRegistryOptions(c).positional('reference', { type: 'string', demandOption: true, describe: 'A list being built, or any manifest or list in a registry' }).option('raw', { type: 'boolean', default: false, describe: 'The exact bytes, as the registry serves them' }),
        act(async (args: ManifestArgs & { reference: string; raw: boolean }) => {
          const found = await inspectManifest(args.reference, { registryOptions: registryOptions(args) });
          if (args.raw) return void process.stdout.write(found.bytes);
          if (args.json) return printJson({ mediaType: found.mediaType, digest: found.digest, local: found.local, document: JSON.parse(found.bytes.toString('utf8')) as unknown });
          process.stdout.write(`${JSON.stringify(JSON.parse(found.bytes.toString('utf8')), null, 2)}\n`);
        }),
      )
      .command(
        'push <target>',
        'Push a list being built; images in another repository of the registry are copied into its own first',
        (c) => withRegistryOptions(c).positional('target', { type: 'string', demandOption: true, describe: 'HOST/REPO:TAG of the list being built' }).option('purge', { type: 'boolean', default: false, describe: 'Forget the local list once pushed' }),
        act(async (args: ManifestArgs & { target: string; purge: boolean }) => {
          printPushed(await pushList(args.target, { registryOptions: registryOptions(args), purge: args.purge }), args);
        }),
      )
      .command(
        'rm <targets..>',
        'Forget lists being built (the local copies; the registry is not touched); a target with none is said, exit 0',
        (c) => c.positional('targets', { type: 'string', array: true, demandOption: true, describe: 'HOST/REPO:TAG of lists being built' }),
        act(async (args: ManifestArgs & { targets: string[] }) => {
          const removed = await removeLists(args.targets);
          if (args.json) return printJson({ removed });
          if (!args.quiet) for (const t of removed) process.stdout.write(`removed ${t}\n`);
          // Idempotent, as a Makefile's clean step wants; but say what was not there.
          if (!args.quiet && removed.length < args.targets.length) process.stderr.write(`airpack: no list was being built for ${args.targets.length - removed.length} of them\n`);
        }),
      )
      .demandCommand(1, 'Name a manifest command: create, annotate, inspect, push or rm');
}

export const builder = subcommands(true);
export const handler = (): void => {};
/** The command line checked before anything runs: the same subcommands, doing nothing. */
export const validator = { command, describe, builder: subcommands(false), handler };
