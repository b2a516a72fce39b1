/** `airpack push`: bundles and archives into a registry, digests kept. */
import type { Argv } from 'yargs';
import { push } from '../push/push.js';
import { LAYER_COMPRESSIONS, type LayerCompression } from '../push/layer-compression.js';
import { positiveInteger, registryOptions, withRegistryOptions, type RegistryArgs } from './common.js';
import { formatBytes, printJson, withProgress, type GlobalArgs } from './output.js';

export const command = 'push <sources..>';
export const describe = 'Push the images of bundles and archives into a registry under their own names (host replaced): compressed layers and their manifests byte for byte, plain-tar layers compressed on the way (--layer-compression)';

export function builder(y: Argv) {
  return withRegistryOptions(y)
    .positional('sources', { type: 'string', array: true, demandOption: true, describe: 'Bundles, image archives (docker save, skopeo, crane, buildx, podman, ctr) or OCI layout directories' })
    .option('registry', { type: 'string', demandOption: true, describe: 'HOST[:PORT][/PREFIX]: the registry, and a path prefix for every repository' })
    .option('dry-run', { type: 'boolean', default: false, describe: 'Print what would go where; send nothing' })
    .option('keep-foreign-urls', {
      type: 'boolean',
      default: false,
      describe: 'Push manifests with Windows foreign layers byte for byte (digests kept, URLs still outside). Default: rewrite them (URLs dropped, new digests): containerd tries those URLs first and fails on a site without a route to them',
    })
    .option('layer-compression', {
      choices: LAYER_COMPRESSIONS,
      default: 'gzip' as LayerCompression,
      describe: 'What layers stored as plain tars (bundles made with --layers uncompressed, docker save) become in the registry: gzip (level 1) or zstd (OCI types), deterministic, new digests printed; none pushes the plain tars as they are. Compressed layers go up byte for byte',
    })
    .option('digests-file', { type: 'string', describe: 'Write every pushed image as "TARGET PINNED" (host/x:v1 host/x@sha256:...), a line each, to this file when the push is done' })
    .option('concurrency', { type: 'number', requiresArg: true, default: 4, coerce: positiveInteger('concurrency'), describe: 'Blobs uploaded in parallel' })
    .example('$0 push rke2-images.linux-amd64.tar.zst --registry registry.site:5000', 'docker.io/rancher/x:v1 -> registry.site:5000/rancher/x:v1')
    .example('$0 push *.tar.zst --registry registry.site:5000/mirror --dry-run', 'what would go where, under a prefix');
}

interface PushArgs extends RegistryArgs, GlobalArgs {
  sources: string[];
  registry: string;
  'dry-run': boolean;
  'keep-foreign-urls': boolean;
  'layer-compression': LayerCompression;
  'digests-file'?: string;
  concurrency: number;
}

export async function handler(args: PushArgs): Promise<void> {
  const result = await withProgress(
    'push',
    args,
    (onProgress) =>
      push({
        sources: args.sources,
        registry: args.registry,
        dryRun: args['dry-run'],
        keepForeignUrls: args['keep-foreign-urls'],
        layerCompression: args['layer-compression'],
        ...(args['digests-file'] !== undefined ? { digestsFile: args['digests-file'] } : {}),
        registryOptions: registryOptions(args),
        concurrency: args.concurrency,
        onProgress,
      }),
    (r) => (r.dryRun ? `would push ${r.images.length} image(s) to ${r.registry}` : `pushed ${r.images.length} image(s) to ${r.registry}, ${formatBytes(r.bytesUploaded)} uploaded`),
  );
  if (args.json) return printJson(result);
  if (args.quiet) return;
  for (const image of result.images) {
    const rebuilt = image.rebuilt ? `  (list rebuilt over ${image.children.length} platform(s): the archive lacks ${image.rebuilt.missing.length > 3 ? `${image.rebuilt.missing.slice(0, 3).join(', ')} and ${image.rebuilt.missing.length - 3} more` : image.rebuilt.missing.join(', ')} of ${image.rebuilt.from})` : '';
    const foreign =
      image.foreignLayers === 'rewritten'
        ? `  (foreign layers pushed as ordinary blobs, URLs dropped: was ${image.sourceDigest}; --keep-foreign-urls keeps it)`
        : image.foreignLayers === 'kept'
          ? '  (foreign layer URLs kept: nodes must reach them)'
          : '';
    const compressed = image.layersCompressed
      ? result.dryRun
        ? `  (plain layers to be ${image.layersCompressed}-compressed: the digest will be new)`
        : `  (plain layers ${image.layersCompressed}-compressed: new digest, was ${image.sourceDigest}; --layer-compression none keeps it)`
      : '';
    process.stdout.write(`${image.name} -> ${image.target}  ${image.digest}${rebuilt}${foreign}${compressed}${result.dryRun ? '  (dry run)' : ''}\n`);
  }
  if (!result.dryRun) {
    const { uploaded, present, mounted } = result.blobs;
    process.stdout.write(`pushed ${result.images.length} image(s) to ${result.registry}: ${uploaded} blob(s) uploaded (${formatBytes(result.bytesUploaded)}), ${present} already there, ${mounted} mounted\n`);
  }
}
