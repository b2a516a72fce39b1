/**
 * Byte-range copies between files with large positional reads and writes,
 * several in flight so reads and writes overlap.
 */
import type { FileHandle } from 'node:fs/promises';

/** Copy buffer size and how many are in flight; measured (scripts/bench-reorder.mjs): 4 MiB x 4 matches 16 MiB x 2 at half the memory. */
export const COPY_BUFFER_SIZE = 4 * 1024 * 1024;
export const COPY_DEPTH = 4;

/** Reads exactly `length` bytes at `position` into `buf`, or throws when the file ends first. */
export async function readExactly(fh: FileHandle, buf: Buffer, length: number, position: number, label = 'file'): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) {
      throw new Error(`${label}: expected ${length} bytes at offset ${position}, file ended after ${done} (was it changed while being read?)`);
    }
    done += bytesRead;
  }
}

/** Writes all of `buf[0, length)` at `position`. */
export async function writeExactly(fh: FileHandle, buf: Buffer, length: number, position: number): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesWritten } = await fh.write(buf, done, length - done, position + done);
    done += bytesWritten;
  }
}

/** Writes `bufs` one after another from `position`, in one writev where the file takes it all. */
export async function writeAllExactly(fh: FileHandle, bufs: readonly Buffer[], position: number): Promise<void> {
  if (bufs.length === 1) return writeExactly(fh, bufs[0]!, bufs[0]!.length, position);
  let { bytesWritten: taken } = await fh.writev(bufs as Buffer[], position);
  // libuv already loops over short writes: a short total here means an error came after some progress,
  // and writing the rest one buffer at a time reports that error (or finishes, if it has passed).
  for (const buf of bufs) {
    if (taken < buf.length) await writeExactly(fh, buf.subarray(taken), buf.length - taken, position + taken);
    taken = Math.max(0, taken - buf.length);
    position += buf.length;
  }
}

/**
 * Copies `length` bytes from `src` at `srcStart` to `dst` at `dstStart`.
 * Up to `depth` buffers are in flight, each doing read-then-write, so reads
 * and writes overlap on the thread pool; on 2 cores this copies a 333 MiB
 * tar in ~130 ms against ~300 ms for bsdtar's 10 KiB read/write loop.
 */
export async function copyRange(
  src: FileHandle,
  srcStart: number,
  length: number,
  dst: FileHandle,
  dstStart: number,
  opts: { bufferSize?: number; depth?: number; label?: string } = {},
): Promise<void> {
  const size = Math.min(opts.bufferSize ?? COPY_BUFFER_SIZE, Math.max(length, 1));
  const depth = Math.max(1, Math.min(opts.depth ?? COPY_DEPTH, Math.ceil(length / size)));
  const bufs = Array.from({ length: depth }, () => Buffer.allocUnsafe(size));
  const slots: (Promise<void> | undefined)[] = new Array<Promise<void> | undefined>(depth).fill(undefined);
  let failure: unknown;
  try {
    for (let off = 0, k = 0; off < length; off += size, k++) {
      const slot = k % depth;
      // The slot's buffer is free once its previous read-then-write is done.
      await slots[slot];
      const n = Math.min(size, length - off);
      const buf = bufs[slot]!;
      const at = off;
      const job = readExactly(src, buf, n, srcStart + at, opts.label).then(() => writeExactly(dst, buf, n, dstStart + at));
      // Observed at the next await of this slot (or below); never unhandled meanwhile.
      job.catch(() => {});
      slots[slot] = job;
    }
  } catch (err) {
    failure = err;
  }
  // Let every job settle before returning or throwing: no I/O may outlive the call.
  const results = await Promise.allSettled(slots.filter((p): p is Promise<void> => p !== undefined));
  if (failure !== undefined) throw failure;
  for (const r of results) if (r.status === 'rejected') throw r.reason;
}
