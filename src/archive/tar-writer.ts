/**
 * A deterministic tar writer over tar-stream: fixed mtime, uid/gid 0, empty
 * owner names, fixed modes. The same entries in the same order give the same
 * bytes, whatever the machine or the clock.
 */
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import tar from 'tar-stream';

/** SOURCE_DATE_EPOCH, when set, as reproducible-builds.org asks; else the epoch. */
export function archiveMtime(env: NodeJS.ProcessEnv = process.env): Date {
  const epoch = Number(env.SOURCE_DATE_EPOCH);
  return new Date(Number.isFinite(epoch) && epoch > 0 ? epoch * 1000 : 0);
}

export class DeterministicTar {
  private readonly pack = tar.pack();
  private readonly done: Promise<void>;
  private readonly mtime = archiveMtime();

  constructor(out: Writable) {
    this.done = pipeline(this.pack, out);
    // pipeline reports errors through `done`; keep an early failure from being unhandled.
    this.done.catch(() => undefined);
  }

  directory(name: string): Promise<void> {
    return this.add({ name, type: 'directory', mode: 0o755 });
  }

  file(name: string, content: Buffer | string): Promise<void> {
    const data = typeof content === 'string' ? Buffer.from(content) : content;
    return this.add({ name, type: 'file', mode: 0o644, size: data.length }, data);
  }

  /** Stream a file of known size into the archive. */
  async fileFrom(name: string, path: string, size: number): Promise<void> {
    const entry = this.pack.entry({ ...this.header(), name, type: 'file', mode: 0o644, size });
    await pipeline(createReadStream(path, { highWaterMark: 1024 * 1024 }), entry);
  }

  async finish(): Promise<void> {
    this.pack.finalize();
    await this.done;
  }

  private header() {
    return { mtime: this.mtime, uid: 0, gid: 0, uname: '', gname: '' };
  }

  private add(header: Partial<tar.Header> & { name: string }, data: Buffer = Buffer.alloc(0)): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pack.entry({ ...this.header(), ...header }, data, (err) => (err ? reject(err) : resolve()));
    });
  }
}
