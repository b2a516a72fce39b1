/**
 * The usual test world: Debian's docker-registry on 127.0.0.1 seeded with the
 * standard fixtures, a loopback server for the foreign Windows layers, and a
 * temp dir. `stop()` tears all of it down.
 */
import { startBlobServer, type BlobServerHandle } from '../support/foreign-server.js';
import { seedStandardImages, type StandardFixtures } from '../support/fixtures.js';
import { startRegistry, type RegistryHandle } from '../support/registry.js';
import { makeTempDir, removeDir } from '../support/util.js';

export interface World {
  registry: RegistryHandle;
  blobServer: BlobServerHandle;
  fx: StandardFixtures;
  dir: string;
  stop(): Promise<void>;
}

export async function startWorld(prefix: string): Promise<World> {
  const [registry, blobServer] = await Promise.all([startRegistry(), startBlobServer()]);
  const fx = await seedStandardImages(registry, blobServer);
  const dir = await makeTempDir(prefix);
  return {
    registry,
    blobServer,
    fx,
    dir,
    async stop() {
      await Promise.all([registry.stop(), blobServer.stop()]);
      await removeDir(dir);
    },
  };
}
