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
 * 32 MiB for a bundle) and a few 1 MiB pieces, whatever the frame size and
 * however many clients ask.
 */
import { availableParallelism } from 'node:os';
import type { PositionalReader } from '../tar/walk.js';
import { SeekableZstdFile } from '../zstd/frame-reader.js';
import { seekableReader } from '../zstd/positional-reader.js';

/** Readers per bundle for consumers that hold them while the network moves: serve's clients. */
export const NETWORK_BUNDLE_READERS = Math.max(2, Math.min(4, availableParallelism() * 2));

/**
 * Readers per bundle for push. Two, not four: the registry takes the bytes
 * slower than two decoders give them (measured on 2 cores, 180 MiB bundle
 * into docker-registry: 4.3-4.8 s and 253 MiB peak with two, 4.6-5.2 s and
 * 300-370 MiB with four; one reader 5.3 s, 244 MiB). Those peaks were with
 * 2 MiB pieces and a pool that could hold two sets of them; with 1 MiB pieces
 * and one set, two readers push a 337 MiB bundle at 211-232 MiB peak (issue 10).
 */
export const PUSH_BUNDLE_READERS = 2;

/**
 * Readers per bundle for pull and bundle. A pack reads blobs in archive
 * order, which one reader does best (pull from a bundle: 1.47 s with one,
 * 1.59 s with four, which decode frame starts twice); the second is for
 * re-bundling, where the cost probe reads layers while a streamed one holds
 * the first. Reads in order still use one: a read takes the free reader
 * already in its frame. Reads side by side in one frame (pull's parallel
 * layers, serve, push) wait for each other up to PASSING_READER_WAIT_MS,
 * then decode the frame from its start on another reader, as they did with
 * no limit on the wait (measured, 11 alternating pulls of a 480 MiB bundle:
 * no slower with two readers than with one).
 */
export const PACK_BUNDLE_READERS = 2;

/** How long a read waits for a busy reader in its frame before it takes another. */
const PASSING_READER_WAIT_MS = 200;

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
    private readonly limit = 1,
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
    // Waiting for a busy reader in this frame saves decoding the frame again, unless that reader
    // is stalled: a layer streamed into a bundle holds it while the frames are planned, and the
    // plan's probe reads through here. So wait a while only, then take another.
    let patient = true;
    for (;;) {
      if (this.closed) throw new Error(`${this.path}: closed`);
      const choice = this.pick(offset, patient);
      if (choice === 'wait') {
        patient = await new Promise<boolean>((resolve) => {
          const timer = setTimeout(() => resolve(false), PASSING_READER_WAIT_MS);
          this.waiting.push(() => {
            clearTimeout(timer);
            resolve(true);
          });
        });
        continue;
      }
      const slot = choice ?? (this.slots.length + this.opening < this.limit ? await this.open() : undefined);
      if (slot && !slot.busy) {
        slot.busy = true;
        slot.at = offset;
        return {
          reader: slot.reader,
          release: (endedAt) => {
            slot.busy = false;
            slot.at = endedAt;
            // Every waiter looks again: the reader it waits for may be this one.
            for (const wake of this.waiting.splice(0)) wake();
          },
        };
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  /**
   * The reader for `offset`: one in its frame and not past it, free (take
   * it) or busy (wait for it: it will pass this way, and a reader started
   * afresh would decode the frame from its start again; not once `patient`
   * is over); else a free one; else undefined (open one, or wait for any).
   */
  private pick(offset: number, patient: boolean): Slot | 'wait' | undefined {
    const frame = (at: number): number => (at < this.size ? this.first.frameAt(at).index : -1);
    const wanted = offset < this.size ? frame(offset) : -1;
    const inFrame = this.slots.filter((s) => s.at <= offset && frame(s.at) === wanted);
    const ready = inFrame.find((s) => !s.busy);
    if (ready) return ready;
    if (inFrame.length > 0 && patient) return 'wait';
    // Any free reader: it restarts at this frame, as a new one would.
    return this.slots.find((s) => !s.busy);
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
