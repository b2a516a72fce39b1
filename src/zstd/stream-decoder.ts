/**
 * Streaming zstd decoder for any zstd file: our multi-frame bundles as well
 * as foreign single-frame files with big windows (`zstd --long=27`), with a
 * cap on the window the decoder may allocate. Skippable frames (such as the
 * seek table) are skipped. Runs zstd-napi's native streaming decoder on the
 * calling thread, one 128 KiB output block at a time.
 */
import { createRequire } from 'node:module';
import { Transform, type TransformCallback } from 'node:stream';
import type Binding from 'zstd-napi/binding.js';
import { ZstdError } from './errors.js';
import { parseFrameHeader, ZSTD_FRAME_MAGIC } from './frame-header.js';

/** Default window cap: 2^27 (128 MiB), what `zstd -d` allows without --long or --memory. */
export const DEFAULT_WINDOW_LOG_MAX = 27;

export interface ZstdDecoderOptions {
  /** Largest window (log2) a frame may require; frames needing more fail with ZSTD_WINDOW_TOO_LARGE. Default 27. */
  windowLogMax?: number;
  /** Names the input in error messages. Default "zstd stream". */
  source?: string;
}

// Loaded with require, not import: importing CommonJS from an ES module runs node's export
// lexer over it first (measured 4-6 ms for this one file against 2.5-3.4 ms for require),
// and every find and ls on a bundle pays for it at start-up.
const binding = createRequire(import.meta.url)('zstd-napi/binding.js') as typeof Binding;

// Error names from ZSTD_getErrorName that mean "needs a bigger window".
const WINDOW_ERROR = /too much memory|window ?too ?large|frameParameter_windowTooLarge/i;

/** Validates a windowLogMax option against what libzstd accepts. */
export function checkWindowLogMax(windowLogMax: number): number {
  const bounds = binding.dParamGetBounds(binding.DParameter.windowLogMax);
  if (!Number.isInteger(windowLogMax) || windowLogMax < bounds.lowerBound || windowLogMax > bounds.upperBound) {
    throw new ZstdError(
      'ZSTD_INVALID_OPTION',
      `windowLogMax expected an integer in ${bounds.lowerBound}..${bounds.upperBound}, found ${windowLogMax}`,
    );
  }
  return windowLogMax;
}

/** A zstd-napi decompression context with the window cap applied. */
export function createDCtx(windowLogMax = DEFAULT_WINDOW_LOG_MAX): Binding.DCtx {
  const dctx = new binding.DCtx();
  dctx.setParameter(binding.DParameter.windowLogMax, checkWindowLogMax(windowLogMax));
  return dctx;
}

/** Turns a native decoder error into a ZstdError, describing the frame header found at `src` when it helps. */
export function decodeError(err: unknown, source: string, windowLogMax: number, position: number, src: Uint8Array | undefined): ZstdError {
  const message = err instanceof Error ? err.message : String(err);
  if (WINDOW_ERROR.test(message)) {
    let needs = 'a larger window';
    try {
      const h = src && src.length >= 4 && Buffer.from(src.buffer, src.byteOffset, 4).readUInt32LE(0) === ZSTD_FRAME_MAGIC ? parseFrameHeader(src, 0, source) : null;
      if (h) needs = `a window of ${h.windowSize} bytes (2^${Math.log2(h.windowSize).toFixed(2).replace(/\.00$/, '')})`;
    } catch {
      // Best effort only: the header may not be at the start of this chunk.
    }
    return new ZstdError(
      'ZSTD_WINDOW_TOO_LARGE',
      `${source}: frame near compressed offset ${position} needs ${needs}; the decoder cap is 2^${windowLogMax} bytes (windowLogMax ${windowLogMax}). ` +
        `The file was probably written with zstd --long above ${windowLogMax}; raise windowLogMax to read it`,
      { cause: err },
    );
  }
  return new ZstdError('ZSTD_CORRUPT', `${source}: zstd data near compressed offset ${position} is not decodable: ${message}`, { cause: err });
}

/**
 * Creates a Transform that decompresses a zstd stream (any number of frames,
 * skippable frames ignored). Truncated input fails with ZSTD_TRUNCATED at
 * end of stream; a frame needing more than 2^windowLogMax fails with
 * ZSTD_WINDOW_TOO_LARGE.
 */
export function createZstdDecoder(opts: ZstdDecoderOptions = {}): Transform {
  return new ZstdDecodeStream(opts);
}

class ZstdDecodeStream extends Transform {
  private readonly dctx: Binding.DCtx;
  private readonly source: string;
  private readonly windowLogMax: number;
  private readonly outSize = binding.dStreamOutSize();
  private inFrame = false;
  private consumed = 0;

  constructor(opts: ZstdDecoderOptions) {
    super();
    this.windowLogMax = opts.windowLogMax ?? DEFAULT_WINDOW_LOG_MAX;
    this.source = opts.source ?? 'zstd stream';
    this.dctx = createDCtx(this.windowLogMax);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    let src = chunk;
    try {
      for (;;) {
        const dst = Buffer.allocUnsafe(this.outSize);
        const [ret, produced, used] = this.dctx.decompressStream(dst, src);
        if (produced > 0) this.push(dst.subarray(0, produced));
        src = src.subarray(used);
        this.consumed += used;
        // ret === 0: a frame just ended. Otherwise more input (or output room) is needed.
        this.inFrame = ret !== 0;
        if (src.length === 0 && (produced < dst.length || ret === 0)) break;
      }
    } catch (err) {
      done(decodeError(err, this.source, this.windowLogMax, this.consumed, src));
      return;
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.inFrame) {
      done(new ZstdError('ZSTD_TRUNCATED', `${this.source}: input ends inside a zstd frame after ${this.consumed} compressed bytes; expected the rest of the frame`));
      return;
    }
    done();
  }
}
