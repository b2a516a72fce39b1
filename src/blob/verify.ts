/**
 * Digest and size checking for byte streams. Every blob read goes through a
 * `DigestCounter` so that size and sha256 are known at EOF and compared with
 * the descriptor before the bytes count for anything.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { AirpackError } from '../errors.js';

export class DigestCounter {
  private hash: Hash | undefined;
  bytes = 0;

  /** `hashing: false` only counts: for bytes whose digest another counter already checks. */
  constructor(private readonly hashing = true) {
    this.hash = hashing ? createHash('sha256') : undefined;
  }

  update(chunk: Buffer): void {
    this.hash?.update(chunk);
    this.bytes += chunk.length;
  }

  reset(): void {
    this.hash = this.hashing ? createHash('sha256') : undefined;
    this.bytes = 0;
  }

  digest(): string {
    if (!this.hash) throw new Error('DigestCounter: counting only, no digest');
    return `sha256:${this.hash.digest('hex')}`;
  }
}

/** Throw a DIGEST_MISMATCH / SIZE_MISMATCH naming `what`, unless the bytes are what was promised. */
export function checkDigest(what: string, expected: { digest: string; size?: number }, got: { digest: string; size: number }): void {
  if (expected.size !== undefined && expected.size >= 0 && got.size !== expected.size) {
    throw new AirpackError('SIZE_MISMATCH', `${what}: size ${got.size} bytes [expected ${expected.size}]`);
  }
  if (got.digest !== expected.digest) {
    throw new AirpackError('DIGEST_MISMATCH', `${what}: digest ${got.digest} [expected ${expected.digest}]`);
  }
}

/** A pass-through stream that feeds every chunk to a DigestCounter; with `limit`, more bytes than that are an error before they pass. */
export class CountingStream extends Transform {
  constructor(
    private readonly counter: DigestCounter,
    private readonly limit?: number,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.counter.update(chunk);
    if (this.limit !== undefined && this.counter.bytes > this.limit) {
      cb(new AirpackError('SIZE_MISMATCH', `more than the ${this.limit} bytes expected`));
      return;
    }
    cb(null, chunk);
  }
}
