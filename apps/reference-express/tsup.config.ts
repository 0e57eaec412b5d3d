import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/main.ts'],
  format: ['esm'],
  clean: true,
  sourcemap: true,
  target: 'node22',
  // The outage switch is the fault proxy of the private test harness (TypeScript source): bundle it,
  // as the benchmark does. Its container backend and store contract suite are not used here.
  noExternal: ['@xnai/test-utils'],
  external: ['testcontainers', 'vitest', 'fast-check'],
  treeshake: {
    moduleSideEffects: (id: string, external: boolean) =>
      !(external && (id === 'vitest' || id === 'fast-check')),
  },
});
