/**
 * The readers of one airpack bundle: a few at once, each with its own
 * decoder (a worker thread), so independent reads (push's parallel uploads,
 * serve's clients, pull's layers) decode side by side instead of queueing on
 * one decoder. A reader is held for a whole entry read: moving it forward
 * through a frame is cheap, sending it back restarts the frame. A read takes
 * the free reader already in its frame and not past its offset, else any
 * free one, else a new one up to the limit, else waits for one.
 *
 * Memory is bounded by the limit: each reader is a decoder window (at most
 * 32 MiB for a bundle) and a few 2 MiB pieces, whatever the frame size and
 * however many clients ask.
 */
import { availableParallelism } from 'node:os';
import type { PositionalReader } from '../tar/walk.js';
import { SeekableZstdFile } from '../zstd/frame-reader.js';
import { seekableReader } from '../zstd/positional-reader.js';

/** Readers per bundle by default: enough for push's four uploads. */
export const DEFAULT_BUNDLE_READERS = Math.max(2, Math.min(4, availableParallelism() * 2));

interface Slot {
  file: SeekableZstdFile;
  reader: PositionalReader;
  busy: boolean;
  /** Where its last read ended: it can move on from there cheaply within that frame. */
  at: number;
}

export class BundleReaders {
  private readonly slots: Slot[] = [];
  private readonly waiting: Array<() => void> = [];
  private opening = 0;
  private closed = false;

  constructor(
    readonly path: string,
    first: SeekableZstdFile,
    private readonly limit = DEFAULT_BUNDLE_READERS,
  ) {
    this.slots.push({ file: first, reader: seekableReader(first), busy: false, at: 0 });
  }

  get size(): number {
    return this.first.size;
  }

  private get first(): SeekableZstdFile {
    return this.slots[0]!.file;
  }

  /** A reader for reads from `offset` on; give it back with `release(endedAt)`. */
  async take(offset: number): Promise<{ reader: PositionalReader; release: (endedAt: number) => void }> {
    for (;;) {
      if (this.closed) throw new Error(`${this.path}: closed`);
      const slot = this.pick(offset) ?? (this.slots.length + this.opening < this.limit ? await this.open() : undefined);
      if (slot && !slot.busy) {
        slot.busy = true;
        return {
          reader: slot.reader,
          release: (endedAt) => {
            slot.busy = false;
            slot.at = endedAt;
            this.waiting.shift()?.();
          },
        };
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  private pick(offset: number): Slot | undefined {
    const free = this.slots.filter((s) => !s.busy);
    if (free.length === 0) return undefined;
    const frame = (at: number): number => (at < this.size ? this.first.frameAt(at).index : -1);
    const wanted = offset < this.size ? frame(offset) : -1;
    return free.find((s) => s.at <= offset && frame(s.at) === wanted) ?? free.find((s) => s.at === 0) ?? free[0];
  }

  private async open(): Promise<Slot> {
    this.opening++;
    try {
      const file = await SeekableZstdFile.open(this.path);
      const slot: Slot = { file, reader: seekableReader(file), busy: false, at: 0 };
      if (this.closed) {
        await file.close();
        throw new Error(`${this.path}: closed`);
      }
      this.slots.push(slot);
      return slot;
    } finally {
      this.opening--;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const wake of this.waiting.splice(0)) wake();
    await Promise.all(this.slots.map((s) => s.reader.close()));
  }
}
