import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/cli.ts', 'src/fleet-worker.ts'],
  format: ['esm'],
  clean: true,
  sourcemap: true,
  target: 'node22',
  // The Redis harness is TypeScript source in a private workspace package: bundle it. Its container
  // backend (testcontainers) is loaded lazily and only when a container runtime answers; its store
  // contract suite (vitest, fast-check) is not used here and tree-shaken away.
  noExternal: ['@xnai/test-utils'],
  external: ['testcontainers', 'vitest', 'fast-check'],
  // vitest is imported by the unused contract suite for its side effects only; leave it out.
  treeshake: {
    moduleSideEffects: (id: string, external: boolean) =>
      !(external && (id === 'vitest' || id === 'fast-check')),
  },
});
