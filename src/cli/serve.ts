/** `airpack serve`: a read-only registry over bundles and archives, until Ctrl-C. */
import type { Argv } from 'yargs';
import { onInterrupt } from '../io/cleanup.js';
import { serve } from '../serve/server.js';
import { printJson } from './output.js';

export const command = 'serve <sources..>';
export const describe = 'Serve bundles and archives as a read-only OCI registry (pull with skopeo, ctr, podman, or a pull-through cache)';

export function builder(y: Argv) {
  return y
    .positional('sources', { type: 'string', array: true, demandOption: true, describe: 'Bundles, image archives or OCI layout directories' })
    .option('addr', { type: 'string', default: '127.0.0.1:5000', describe: 'HOST:PORT to listen on (port 0: any free port)' })
    .example('$0 serve rke2-images.linux-amd64.tar.zst --addr 127.0.0.1:5000', 'then: ctr images pull --plain-http 127.0.0.1:5000/rancher/rke2-runtime:v1.30.1-rke2r1')
    .example('$0 serve *.tar.zst --addr 0.0.0.0:5000', 'a site registry configured with proxy.remoteurl: http://this-host:5000 takes the images without a push');
}

interface ServeArgs {
  sources: string[];
  addr: string;
  json: boolean;
  quiet: boolean;
}

export async function handler(args: ServeArgs): Promise<void> {
  const server = await serve(args.sources, { addr: args.addr, onWarning: (m) => process.stderr.write(`warning: ${m}\n`) });
  // Ctrl-C or SIGTERM (cli/main.ts) stops the listener and removes any scratch copy; the exit code is 130/143.
  onInterrupt(() => server.stopNow());
  if (args.json) printJson({ url: server.url, repositories: server.repositories });
  else if (!args.quiet) process.stdout.write(`serving ${server.repositories.length} repositories on ${server.url} (read-only; Ctrl-C stops)\n`);
  // Runs until a signal ends the process.
  await new Promise<never>(() => {});
}
