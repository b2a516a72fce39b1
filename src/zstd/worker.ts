/**
 * Starts a worker thread running a self-contained function from its source
 * text (`eval`), with zstd-napi's native binding path in `workerData`. The
 * same source so runs from dist/ and under the test runner's TypeScript
 * loader, with no separate worker file to locate.
 *
 * The function gets its `require` as an argument, made with
 * `process.getBuiltinModule`: an eval'd worker inherits the parent's flags,
 * and under `--input-type=module` its code is an ES module without a
 * `require` of its own. It may use only that `require` and what it defines.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

export interface ZstdWorkerData {
  bindingPath: string;
}

/** `data` goes into `workerData` beside the binding's path: constants the worker cannot import. */
export function startZstdWorker(main: (require: NodeJS.Require) => void, data: Record<string, unknown> = {}): Worker {
  const bindingPath = createRequire(import.meta.url).resolve('zstd-napi/binding.js');
  const workerData: ZstdWorkerData = { ...data, bindingPath };
  const code = `(${main.toString()})(process.getBuiltinModule('node:module').createRequire(${JSON.stringify(bindingPath)}))`;
  return new Worker(code, { eval: true, workerData });
}
