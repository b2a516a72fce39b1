/**
 * A Writable into a FileHandle it does not own, from `start` on: it never
 * closes the handle, whatever becomes of the stream.
 *
 * Why not `fs.createWriteStream('', { fd: fh.fd, autoClose: false })`:
 * autoClose only keeps the stream from closing at its end. `destroy()`, which
 * `pipeline()` calls on any error, still closes the descriptor, and the
 * handle's own `close()` then closes the same number a second time. In
 * between, another thread may have been given that number: a worker thread
 * starting up takes it for its event loop, libuv's epoll_ctl then fails on
 * whatever reuses it, and libuv aborts the whole process (seen in CI as
 * vitest's "Worker exited unexpectedly" in a test of failing bundle writes).
 * Several of these streams may share one handle (a layer each, written at its
 * offset): one destroyed must not close the file under the others.
 *
 * `destroy()` waits for the write in flight, so once 'close' is emitted
 * nothing of this stream touches the file.
 */
import type { FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import { writeAllExactly } from './file-copy.js';

export function handleWritable(fh: FileHandle, start = 0, highWaterMark = 1024 * 1024): Writable {
  let position = start;
  let inFlight: Promise<void> = Promise.resolve();
  const write = (bufs: Buffer[], callback: (err?: Error | null) => void): void => {
    const at = position;
    for (const b of bufs) position += b.length;
    inFlight = writeAllExactly(fh, bufs, at);
    inFlight.then(() => callback(), callback);
  };
  return new Writable({
    highWaterMark,
    write: (chunk: Buffer, _encoding, callback) => write([chunk], callback),
    writev: (chunks, callback) => write(chunks.map((c) => c.chunk as Buffer), callback),
    destroy: (err, callback) => {
      const done = (): void => callback(err);
      inFlight.then(done, done);
    },
  });
}
