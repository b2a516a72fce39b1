/**
 * A private containerd (Debian's 1.6) for import tests: the rke2/k3s load
 * path is `ctr images import`, so archives must pass through the real thing.
 *
 * Everything lives in one temp dir: root, state, opt and the gRPC socket. The
 * CRI plugin and the snapshotters that need kernel or filesystem features
 * (btrfs, aufs, zfs, devmapper) are disabled. Imports use the `native`
 * snapshotter: it needs no overlayfs, so it works wherever the temp dir is.
 *
 * How `ctr images import` behaves here (containerd 1.6.20, linux/amd64 host),
 * measured against skopeo-made archives:
 * - linux/amd64 archive: plain `ctr images import FILE` imports and unpacks.
 * - windows/amd64 archive: plain import, and `--no-unpack` alone, exit 1 with
 *   "ctr: image might be filtered out" and import nothing: the platform
 *   filter defaults to the host's. `--platform windows/amd64` (or
 *   `--all-platforms`) imports it, and even unpacks: the walking differ just
 *   extracts `Files/...` and `Hives/...` as ordinary files. Add `--no-unpack`
 *   to skip that. An archive missing a foreign layer's blob (what skopeo's
 *   oci-archive writes for Windows images) fails at unpack with "content
 *   digest sha256:...: not found".
 * - An OCI index is stored whole (all platforms listed) but only the selected
 *   platform's content is required. Without a name annotation in index.json
 *   the image is named "import-YYYY-MM-DD:<ref.name>".
 */
import { spawn } from 'node:child_process';
import { stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { captureTail, makeTempDir, removeDir, run, stopChild, waitUntil, type RunResult } from './util.js';

export const CONTAINERD_BIN = '/usr/bin/containerd';
export const CTR_BIN = '/usr/bin/ctr';
export const CTR_NAMESPACE = 'airpack-test';

export interface ContainerdImage {
  /** REF column, e.g. "docker.io/library/single:latest". */
  name: string;
  /** Media type of the image's target (manifest or index). */
  type: string;
  digest: string;
  /** e.g. "30.7 KiB", as ctr prints it. */
  size: string;
  /** e.g. ["linux/amd64", "linux/arm64/v8"] */
  platforms: string[];
}

export interface ImportOptions {
  /** e.g. "windows/amd64"; ctr's default is the host platform only. */
  platform?: string;
  allPlatforms?: boolean;
  /** Default true: unpack into the native snapshotter, as a loader would. */
  unpack?: boolean;
  /** Passed as --base-name (OCI archives without full names). */
  baseName?: string;
  /** Passed as --index-name: keep the index under this name. */
  indexName?: string;
}

export interface ContainerdHandle {
  /** The gRPC socket path. */
  address: string;
  /** containerd's root dir (content store, snapshots, metadata). */
  root: string;
  /** Run `ctr --address SOCK -n airpack-test ARGS...`. */
  ctr(args: string[]): Promise<RunResult>;
  /** `ctr images import` with the flags documented above. */
  importArchive(path: string, opts?: ImportOptions): Promise<RunResult>;
  /** Parsed `ctr images ls`. */
  listImages(): Promise<ContainerdImage[]>;
  stop(): Promise<void>;
}

export async function startContainerd(): Promise<ContainerdHandle> {
  const dir = await makeTempDir('containerd');
  try {
    const root = join(dir, 'root');
    const address = join(dir, 'containerd.sock');
    // sun_path is 108 bytes; a long TMPDIR would make the socket unusable.
    if (Buffer.byteLength(address) > 100) throw new Error(`containerd socket path too long: ${address}`);
    const configPath = join(dir, 'config.toml');
    await writeFile(
      configPath,
      [
        'version = 2',
        `root = ${JSON.stringify(root)}`,
        `state = ${JSON.stringify(join(dir, 'state'))}`,
        'disabled_plugins = [',
        '  "io.containerd.grpc.v1.cri",',
        '  "io.containerd.snapshotter.v1.btrfs",',
        '  "io.containerd.snapshotter.v1.aufs",',
        '  "io.containerd.snapshotter.v1.zfs",',
        '  "io.containerd.snapshotter.v1.devmapper",',
        ']',
        '[grpc]',
        `  address = ${JSON.stringify(address)}`,
        '[ttrpc]',
        `  address = ${JSON.stringify(`${address}.ttrpc`)}`,
        '[debug]',
        '  level = "warn"',
        // The opt plugin defaults to /opt/containerd; keep it in the temp dir.
        '[plugins."io.containerd.internal.v1.opt"]',
        `  path = ${JSON.stringify(join(dir, 'opt'))}`,
        '',
      ].join('\n'),
    );

    const child = spawn(CONTAINERD_BIN, ['--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    const tail = captureTail(child);
    let spawnError: Error | undefined;
    child.on('error', (err) => (spawnError = err));

    const ctr = (args: string[]): Promise<RunResult> => run(CTR_BIN, ['--address', address, '-n', CTR_NAMESPACE, ...args]);

    try {
      await waitUntil(
        `containerd on ${address}`,
        async () => {
          await stat(address);
          return (await ctr(['version'])).code === 0;
        },
        {
          intervalMs: 100,
          failed: () => {
            if (spawnError) return spawnError;
            if (child.exitCode !== null || child.signalCode !== null) {
              return new Error(`containerd exited (${child.exitCode ?? child.signalCode}): ${tail().trim()}`);
            }
            return undefined;
          },
        },
      );
    } catch (err) {
      await stopChild(child);
      throw err;
    }

    let stopped: Promise<void> | undefined;
    return {
      address,
      root,
      ctr,
      importArchive: (path, opts = {}) =>
        ctr([
          'images',
          'import',
          '--snapshotter',
          'native',
          ...(opts.platform ? ['--platform', opts.platform] : []),
          ...(opts.allPlatforms ? ['--all-platforms'] : []),
          ...(opts.unpack === false ? ['--no-unpack'] : []),
          ...(opts.baseName ? ['--base-name', opts.baseName] : []),
          ...(opts.indexName ? ['--index-name', opts.indexName] : []),
          path,
        ]),
      listImages: async () => {
        const res = await ctr(['images', 'ls']);
        if (res.code !== 0) throw new Error(`ctr images ls exited ${res.code}: ${res.stderr}`);
        return parseImageList(res.stdout);
      },
      stop: () =>
        (stopped ??= (async () => {
          await stopChild(child, 10_000);
          await removeDir(dir);
        })()),
    };
  } catch (err) {
    await removeDir(dir);
    throw err;
  }
}

/**
 * Parse `ctr images ls`: REF TYPE DIGEST SIZE PLATFORMS LABELS, space-aligned.
 * SIZE holds a space ("30.7 KiB"), so anchor on the digest column instead of
 * splitting blindly.
 */
export function parseImageList(stdout: string): ContainerdImage[] {
  const images: ContainerdImage[] = [];
  for (const line of stdout.split('\n').slice(1)) {
    const m = /^(\S+)\s+(\S+)\s+(sha256:[0-9a-f]{64})\s+(\S+ \S+)\s+(\S+)\s+(\S+)\s*$/.exec(line);
    if (!m) continue;
    images.push({
      name: m[1]!,
      type: m[2]!,
      digest: m[3]!,
      size: m[4]!,
      platforms: m[5] === '-' ? [] : m[5]!.split(','),
    });
  }
  return images;
}
