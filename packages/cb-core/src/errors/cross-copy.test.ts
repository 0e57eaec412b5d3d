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

describe('errors of @xnai/cb-core', () => {
  it('are recognised across package copies, and look-alikes are not', () => {
    expect(copies.map((copy) => copy.label)).toEqual(['esm', 'cjs', 'copy']);
    expect(
      findCrossCopyMismatches(copies, {
        base: 'CircuitBreakerError',
        errors: {
          CallTimeoutError: { code: 'CALL_TIMEOUT', args: ['payments', 5] },
          CircuitOpenError: { code: 'CIRCUIT_OPEN', args: ['payments', 'open', 1] },
          ClosedError: { code: 'CLOSED', args: ['Circuit breaker "payments"'] },
          InvalidCircuitNameError: { code: 'INVALID_CIRCUIT_NAME', args: ['circuit name must not be empty'] },
          InvalidStateDataError: { code: 'INVALID_STATE_DATA', args: ['state must be an object'] },
          StoreUnavailableError: { code: 'STORE_UNAVAILABLE', args: ['down'] },
        },
      }),
    ).toEqual([]);
  });
});
