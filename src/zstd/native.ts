/**
 * The native compressor from `@mongodb-js/zstd/bindings`, typed. Its
 * `compress(buf, level)` honours the level (the package's top-level export
 * drops it) and runs on the libuv thread pool, so frames compress in parallel.
 */
import { createRequire } from 'node:module';

interface MongoZstdBindings {
  compress(data: Buffer, level?: number | null): Promise<Buffer>;
  decompress(data: Buffer): Promise<Buffer>;
}

let loaded: MongoZstdBindings | undefined;

/** Loads the native binding on first use (the package has no ESM entry or types for it). */
export function nativeZstd(): MongoZstdBindings {
  if (!loaded) {
    const require = createRequire(import.meta.url);
    loaded = require('@mongodb-js/zstd/bindings') as MongoZstdBindings;
  }
  return loaded;
}

/** Size of the libuv thread pool the native compressor and all fs calls share. */
export function threadPoolSize(): number {
  const n = Number(process.env['UV_THREADPOOL_SIZE']);
  return Number.isInteger(n) && n > 0 ? n : 4;
}
