/** A docker-save-shaped tar with big layers of random bytes, for tests that need blobs too big for one request. */
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import tarStream from 'tar-stream';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/**
 * Writes the tar to `path` (layers stored as plain tars: a digest is its diff_id); returns the layers'
 * digests. `bytes` is every layer's size, or each one's.
 */
export async function bigArchive(path: string, bytes: number | number[], layers = 1, name = 'example.com/big:1'): Promise<string[]> {
  const sizes = Array.isArray(bytes) ? bytes : Array.from({ length: layers }, () => bytes);
  const data = sizes.map((n) => randomBytes(n));
  const diffIds = data.map((l) => `sha256:${sha256(l)}`);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds } }));
  const cfgName = `${sha256(config)}.json`;
  const pack = tarStream.pack();
  const chunks: Buffer[] = [];
  pack.on('data', (c: unknown) => chunks.push(c as Buffer));
  const names = data.map((_, i) => `layer${i}.tar`);
  pack.entry({ name: 'manifest.json' }, JSON.stringify([{ Config: cfgName, RepoTags: [name], Layers: names }]));
  pack.entry({ name: cfgName }, config);
  data.forEach((l, i) => pack.entry({ name: names[i]! }, l));
  pack.finalize();
  await new Promise<void>((r) => pack.on('end', () => r()));
  writeFileSync(path, Buffer.concat(chunks));
  return diffIds;
}
