/**
 * The order layers go into an archive (sink/layer-order.ts): versions of one
 * image side by side, layer by layer, so a bundle's compressor sees them
 * within its window; everything else in the list's order.
 */
import { describe, expect, it } from 'vitest';
import { orderLayers } from '../src/sink/layer-order.js';
import type { FetchedImage } from '../src/sink/image-sink.js';

/** An image as the orderer sees it: a name, a platform and layers named by their digests. */
function image(name: string, architecture: string, layers: string[]): FetchedImage {
  const [repository, tag] = name.split(':') as [string, string];
  return {
    source: { ref: { registry: 'registry.example', repository, tag }, platform: { os: 'linux', architecture } },
    manifest: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${name}`, bytes: Buffer.alloc(0) },
    layers: layers.map((digest) => ({ descriptor: { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size: 1 }, path: `/store/${digest}` })),
  } as unknown as FetchedImage;
}

const order = (images: FetchedImage[]): string[] => orderLayers(images).map((l) => l.descriptor.digest);

describe('orderLayers', () => {
  it('keeps the list order when no repository comes twice', () => {
    expect(order([image('coredns:1', 'amd64', ['a1', 'a2']), image('etcd:3', 'amd64', ['base', 'e1']), image('proxy:1', 'amd64', ['base', 'p1', 'p2'])])).toEqual(['a1', 'a2', 'base', 'e1', 'base', 'p1', 'p2']);
  });

  it('puts two versions of one image side by side, layer by layer, even when the list has them apart', () => {
    const images = [image('apiserver:v1', 'amd64', ['base', 'api1-bin', 'api1-conf']), image('etcd:3', 'amd64', ['base', 'e1']), image('apiserver:v2', 'amd64', ['base', 'api2-bin', 'api2-conf', 'api2-extra'])];
    expect(order(images)).toEqual(['base', 'base', 'api1-bin', 'api2-bin', 'api1-conf', 'api2-conf', 'api2-extra', 'base', 'e1']);
  });

  it('does not mix platforms: an arm64 layer holds other bytes than its amd64 sibling', () => {
    const images = [image('app:v1', 'amd64', ['x1', 'x2']), image('app:v1', 'arm64', ['y1', 'y2']), image('app:v2', 'amd64', ['x1b', 'x2b'])];
    expect(order(images)).toEqual(['x1', 'x1b', 'x2', 'x2b', 'y1', 'y2']);
  });
});
