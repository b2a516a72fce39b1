#!/usr/bin/env node
// A plain `find`, `ls`, `verify`, `extract`, `reorder IN -o OUT` or `pull REFS -o OUT` runs from the bundled entry (src/cli/fast-entry.ts) when a build made
// one newer than its modules; anything else, or no such bundle, goes through dist/cli/main.js.
import { statSync } from 'node:fs';

const command = process.argv[2];
const bundled = new Set(['find', 'ls', 'verify', 'extract', 'reorder', 'pull']);
const fresh = (bundle, modules) => {
  try {
    return statSync(bundle).mtimeMs >= statSync(modules).mtimeMs;
  } catch {
    return false;
  }
};
const fast =
  bundled.has(command) && process.env.AIRPACK_NO_BUNDLE === undefined && fresh(new URL('../dist/cli/fast/fast.js', import.meta.url), new URL('../dist/cli/fast-entry.js', import.meta.url))
    ? await import('../dist/cli/fast/fast.js')
    : undefined;
const code = fast ? await fast.fastMain() : undefined;
if (code !== undefined) {
  process.exitCode = code;
} else {
  const { main, stopOnUncaughtErrors } = await import('../dist/cli/main.js');
  stopOnUncaughtErrors();
  process.exitCode = await main();
}
