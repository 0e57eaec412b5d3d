import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: { resolve: ['@xnai/kit'] },
  clean: true,
  sourcemap: true,
  target: 'node22',
  treeshake: true,
  noExternal: ['@xnai/kit'],
  // The Lua scripts ship inside the bundle as strings.
  loader: { '.lua': 'text' },
});
