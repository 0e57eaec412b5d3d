import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    // Packing and `npm install` of five tarballs (ioredis comes from the registry).
    hookTimeout: 300_000,
    testTimeout: 60_000,
  },
});
