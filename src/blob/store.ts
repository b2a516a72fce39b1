/**
 * A content-addressed blob store on disk: `<dir>/sha256/<hex>`. A blob is
 * written to a temp file beside its final place and renamed only after its
 * size and digest were verified, so anything found in the store is whole.
 * Concurrent requests for the same digest share one write.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { removeOnInterrupt } from '../io/cleanup.js';
import { digestHex } from '../spec/types.js';

export class BlobStore {
  private readonly inflight = new Map<string, Promise<string>>();

  constructor(readonly dir: string) {}

  path(digest: string): string {
    return path.join(this.dir, 'sha256', digestHex(digest));
  }

  async has(digest: string): Promise<boolean> {
    try {
      return (await stat(this.path(digest))).isFile();
    } catch {
      return false;
    }
  }

  async size(digest: string): Promise<number> {
    return (await stat(this.path(digest))).size;
  }

  /**
   * Make sure the blob is in the store. `produce(tmpPath)` writes and verifies
   * it; it runs at most once per digest at a time, and not at all when the
   * blob is already present. Resolves with the blob's path.
   */
  ensure(digest: string, produce: (tmpPath: string) => Promise<void>): Promise<string> {
    const final = this.path(digest);
    let pending = this.inflight.get(digest);
    if (!pending) {
      pending = (async () => {
        if (await this.has(digest)) return final;
        await mkdir(path.dirname(final), { recursive: true });
        const tmp = `${final}.${randomBytes(6).toString('hex')}.tmp`;
        // Registered before it exists: a Ctrl-C at any point leaves no partial blob, even in a kept cache.
        const forget = removeOnInterrupt(tmp);
        try {
          await produce(tmp);
          await rename(tmp, final);
        } catch (err) {
          await rm(tmp, { force: true });
          throw err;
        } finally {
          forget();
        }
        return final;
      })().finally(() => this.inflight.delete(digest));
      this.inflight.set(digest, pending);
    }
    return pending;
  }
}
