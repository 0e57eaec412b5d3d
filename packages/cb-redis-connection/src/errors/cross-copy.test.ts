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

describe('errors of @xnai/cb-redis-connection', () => {
  it('are recognised across package copies, and look-alikes are not', () => {
    expect(copies.map((copy) => copy.label)).toEqual(['esm', 'cjs', 'copy']);
    expect(
      findCrossCopyMismatches(copies, {
        base: 'RedisManagerError',
        errors: {
          RedisAuthenticationError: { code: 'ERR_REDIS_AUTHENTICATION', args: ['WRONGPASS'] },
          RedisCommandError: { code: 'ERR_REDIS_COMMAND', args: ['WRONGTYPE', 'WRONGTYPE Operation'] },
          RedisTimeoutError: { code: 'ERR_REDIS_TIMEOUT', args: [250] },
          RedisTlsError: {
            code: 'ERR_REDIS_TLS',
            args: ['certificate', 'SELF_SIGNED_CERT_IN_CHAIN', 'untrusted'],
          },
          RedisUnavailableError: { code: 'ERR_REDIS_UNAVAILABLE', args: ['connection_lost', 'gone'] },
        },
      }),
    ).toEqual([]);
  });
});
