import { join } from 'node:path';
import { findCrossCopyMismatches, loadBuiltCopies, type PackageCopy } from '@xnai/kit/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Two installs of the package in one process (an ESM and a CommonJS consumer, two versions side by
// side) are separate copies: `instanceof` fails across them, `isInstance` must not. Loads the
// package's build (`pnpm build` first): its ESM and CommonJS files, and its dist copied elsewhere.
let copies: readonly PackageCopy[];
let remove = (): void => undefined;

beforeAll(async () => {
  ({ copies, remove } = await loadBuiltCopies(join(import.meta.dirname, '../..')));
});
afterAll(() => remove());

describe('errors of @xnai/cb-registry', () => {
  it('are recognised across package copies, and look-alikes are not', () => {
    expect(copies.map((copy) => copy.label)).toEqual(['esm', 'cjs', 'copy']);
    expect(
      findCrossCopyMismatches(copies, {
        base: 'CircuitRegistryError',
        errors: {
          CircuitAlreadyRegisteredError: {
            code: 'CIRCUIT_ALREADY_REGISTERED',
            args: ['payments', 'failureThreshold'],
          },
          CircuitNotRegisteredError: { code: 'CIRCUIT_NOT_REGISTERED', args: ['payments'] },
        },
      }),
    ).toEqual([]);
  });
});
