import { defineConfig } from 'vitest/config';

// Integration tests start real servers (docker-registry, containerd); give
// them time on a 2-core machine, and run at most two files at once.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
  },
});
