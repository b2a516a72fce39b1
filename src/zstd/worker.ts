/**
 * Starts a worker thread running a self-contained function from its source
 * text (`eval`), with zstd-napi's native binding path in `workerData`. The
 * same source so runs from dist/ and under the test runner's TypeScript
 * loader, with no separate worker file to locate. The function may use only
 * `require` and what it defines itself.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

export interface ZstdWorkerData {
  bindingPath: string;
}

export function startZstdWorker(main: () => void): Worker {
  const bindingPath = createRequire(import.meta.url).resolve('zstd-napi/binding.js');
  const workerData: ZstdWorkerData = { bindingPath };
  return new Worker(`(${main.toString()})()`, { eval: true, workerData });
}
