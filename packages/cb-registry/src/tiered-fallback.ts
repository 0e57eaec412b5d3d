import type { CallOptions, CircuitBreakerRegistry } from './registry.js';

/** Which tier answered a {@link callWithTieredFallback}. */
export type FallbackTier = 'memoryCache' | 'staleData' | 'minimalResponse';

/**
 * The seed's `fallback_tiers`, tried in order after the protected call failed or was rejected.
 * A tier answers with any value but `undefined` (and `null`, a cache miss in the seed).
 */
export interface FallbackTiers<T> {
  /** Tier 1: an in-memory cache. */
  readonly memoryCache?: (name: string) => T | null | undefined | PromiseLike<T | null | undefined>;
  /** Tier 2: stale data, for example a Redis cache independent of the breaker. */
  readonly staleData?: (name: string) => T | null | undefined | PromiseLike<T | null | undefined>;
  /** Tier 3: a minimal response. */
  readonly minimalResponse?: T | ((name: string) => T);
  /** Told which tier answered, and why the live call did not. */
  readonly onFallback?: (event: {
    readonly name: string;
    readonly tier: FallbackTier;
    readonly error: unknown;
  }) => void;
}

/**
 * The seed's `call_with_tiered_fallback`: the live call through the named breaker, then the memory
 * cache, then stale data, then a minimal response. A tier that throws counts as a miss. When every
 * tier misses, the live call's error is thrown.
 * @throws the live call's error when no tier answered.
 * @example
 * ```ts
 * const user = await callWithTieredFallback(registry, 'users', (signal) => fetchUser(id, signal), {
 *   memoryCache: () => cache.get(id),
 *   staleData: () => redisCache.get(`users:${id}:stale`),
 *   minimalResponse: { id, name: 'unknown' },
 * });
 * ```
 */
export async function callWithTieredFallback<T>(
  registry: CircuitBreakerRegistry,
  name: string,
  fn: (signal: AbortSignal) => T | PromiseLike<T>,
  tiers: FallbackTiers<Awaited<T>>,
  options?: CallOptions,
): Promise<Awaited<T>> {
  try {
    return (await registry.callWithCircuitBreaker(name, fn, options)) as Awaited<T>;
  } catch (error) {
    const attempt = async (
      tier: FallbackTier,
      source: ((name: string) => unknown) | undefined,
    ): Promise<{ value: Awaited<T> } | null> => {
      if (source === undefined) return null;
      try {
        const value = await source(name);
        if (value === undefined || value === null) return null;
        tiers.onFallback?.({ name, tier, error });
        return { value: value as Awaited<T> };
      } catch {
        return null;
      }
    };
    const answer =
      (await attempt('memoryCache', tiers.memoryCache)) ??
      (await attempt('staleData', tiers.staleData)) ??
      (await attempt(
        'minimalResponse',
        tiers.minimalResponse === undefined
          ? undefined
          : typeof tiers.minimalResponse === 'function'
            ? (tiers.minimalResponse as (name: string) => unknown)
            : () => tiers.minimalResponse,
      ));
    if (answer !== null) return answer.value;
    throw error;
  }
}
