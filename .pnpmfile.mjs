// pnpm hooks of the workspace.

/**
 * The manifest a published package ships: without devDependencies. They mean nothing to a user, and
 * they name private workspace packages (`@xnai/kit`, which each package bundles, `@xnai/tsconfig`,
 * `@xnai/test-utils`) that are on no registry. `tooling/package-check` asserts that no packed file
 * mentions `@xnai/kit`.
 */
function beforePacking(manifest) {
  delete manifest.devDependencies;
  return manifest;
}

export const hooks = { beforePacking };
