import { defineConfig } from 'tsup';

// One ESM file per entry and one declaration file per entry, without relative imports: what the
// published packages bundle (`noExternal`) and inline into their declarations (`dts.resolve`).
export default defineConfig({
  entry: ['src/index.ts', 'src/testing.ts'],
  format: ['esm'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node22',
  treeshake: true,
});
