import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    exclude: process.env.CB_CHAOS === '1' ? [] : ['src/**/*.chaos.test.ts'],
    // Files start Redis servers and child processes; one at a time keeps timings honest on 2 cores.
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 30_000,
  },
});
