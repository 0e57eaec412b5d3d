import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  // The private kit (tooling/kit) is bundled from source, its declarations inlined: the package
  // has no dependency on it, at run time or in its types.
  noExternal: ['@xnai/kit'],
  dts: { resolve: ['@xnai/kit'] },
  clean: true,
  sourcemap: true,
  // Maps without the sources' text: the bundled sources name the private kit.
  esbuildOptions(options) {
    options.sourcesContent = false;
  },
  target: 'node22',
  treeshake: true,
  // The Lua scripts ship inside the bundle as strings.
  loader: { '.lua': 'text' },
});
