import type { CircuitOverride, CircuitState, CircuitStateData, ProbeLease } from '@xnai/cb-core';

const SEVERITY: Readonly<Record<CircuitState, number>> = Object.freeze({ closed: 0, half_open: 1, open: 2 });

/** JSON with object keys sorted, so equal data gives equal text whatever built it. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) => {
    if (inner === null || typeof inner !== 'object' || Array.isArray(inner)) return inner;
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(inner).sort()) sorted[key] = (inner as Record<string, unknown>)[key];
    return sorted;
  });
}

function compareNumbers(a: number, b: number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** `null` sorts before every string. */
function compareNullableStrings(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return compareStrings(a, b);
}

/** `null` (no expiry) sorts after every time: it is the longer-lasting override. */
function compareExpiry(a: number | null, b: number | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return compareNumbers(a, b);
}

/**
 * A total order on overrides; the greater one wins. Later `setAt` first, then `forced_open` over
 * `forced_closed`, then reason and expiry, so that two different overrides never tie.
 */
function compareOverrides(a: CircuitOverride, b: CircuitOverride): number {
  return (
    compareNumbers(a.setAt, b.setAt) ||
    compareNumbers(a.mode === 'forced_open' ? 1 : 0, b.mode === 'forced_open' ? 1 : 0) ||
    compareNullableStrings(a.reason, b.reason) ||
    compareExpiry(a.expiresAt, b.expiresAt)
  );
}

/** Manual overrides win over none; between two, the one set later (see {@link compareOverrides}). */
export function mergeOverrides(a: CircuitOverride | null, b: CircuitOverride | null): CircuitOverride | null {
  if (a === null) return b;
  if (b === null) return a;
  return compareOverrides(a, b) >= 0 ? a : b;
}

function probesOfRound(probes: readonly ProbeLease[], round: number): ProbeLease[] {
  return probes.filter((lease) => lease.round === round);
}

/**
 * The state-machine part that is taken whole from the winning side, in a canonical text form.
 * Fields merged separately (times, round, version, override) are left out, so a merged result
 * compares with its inputs exactly as the side it came from did: that is what makes the merge
 * idempotent.
 */
function canonicalMachine(data: CircuitStateData, round: number): string {
  return canonicalJson([
    data.state,
    data.failureCount,
    data.successCount,
    data.lastStateChange,
    data.consecutiveOpens,
    data.openUntil,
    data.window,
    probesOfRound(data.probes, round).map((lease) => [lease.id, lease.round, lease.expiresAt]),
  ]);
}

/**
 * Orders two sides of one circuit by whose state machine wins: the newer transition
 * (`lastStateChange`), then the more severe state (open > half_open > closed), then the higher
 * canonical comparison so that the result never depends on argument order.
 *
 * The version is deliberately not a tie-breaker: the merged version is the larger of both, so a
 * result would compare differently from the side it came from and the merge would stop being
 * associative (three instances reconciling in different orders could disagree).
 */
function compareMachines(a: CircuitStateData, b: CircuitStateData, round: number): number {
  return (
    compareNumbers(a.lastStateChange, b.lastStateChange) ||
    compareNumbers(SEVERITY[a.state], SEVERITY[b.state]) ||
    compareStrings(canonicalMachine(a, round), canonicalMachine(b, round))
  );
}

/**
 * Merges two copies of one circuit's state — what Redis holds and what the in-memory fallback
 * holds after an outage — by fixed rules:
 *
 * - the manual override: one beats none; of two, the later `setAt` wins (a tie goes to
 *   `forced_open`);
 * - the state machine (state, counts, open period, backoff, window, probes) is taken whole from
 *   the side with the newer `lastStateChange`; a tie goes to the more severe state
 *   (open > half_open > closed), then to a canonical comparison of the state-machine fields;
 * - `lastFailureTime`, `lastSuccessTime`, `halfOpenRound` and `version` are the larger of both;
 *   probes of another half-open round than the merged one are dropped.
 *
 * A side that is `undefined` (the circuit is absent there, for example because Redis lost it) yields
 * the other side unchanged. The function is pure, deterministic, commutative
 * (`mergeStates(a, b)` deep-equals `mergeStates(b, a)`) and idempotent
 * (`mergeStates(mergeStates(a, b), b)` deep-equals `mergeStates(a, b)`).
 *
 * @example
 * ```ts
 * const merged = mergeStates(await redisStore.getState('payments'), await mirror.getState('payments'));
 * ```
 */
export function mergeStates(
  a: CircuitStateData | undefined,
  b: CircuitStateData | undefined,
): CircuitStateData | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  const halfOpenRound = Math.max(a.halfOpenRound, b.halfOpenRound);
  const winner = compareMachines(a, b, halfOpenRound) >= 0 ? a : b;
  return {
    schemaVersion: winner.schemaVersion,
    state: winner.state,
    failureCount: winner.failureCount,
    successCount: winner.successCount,
    lastFailureTime: Math.max(a.lastFailureTime, b.lastFailureTime),
    lastSuccessTime: Math.max(a.lastSuccessTime, b.lastSuccessTime),
    lastStateChange: winner.lastStateChange,
    version: Math.max(a.version, b.version),
    consecutiveOpens: winner.consecutiveOpens,
    openUntil: winner.openUntil,
    halfOpenRound,
    override: mergeOverrides(a.override, b.override),
    probes: probesOfRound(winner.probes, halfOpenRound),
    window: winner.window,
  };
}

/**
 * `true` when two states hold the same circuit data apart from `version`: writing one over the
 * other would change nothing a breaker acts on.
 */
export function sameStateContent(a: CircuitStateData, b: CircuitStateData): boolean {
  return (
    canonicalJson({ ...a, version: 0, probes: [...a.probes].sort(byId) }) ===
    canonicalJson({ ...b, version: 0, probes: [...b.probes].sort(byId) })
  );
}

function byId(a: ProbeLease, b: ProbeLease): number {
  return compareStrings(a.id, b.id);
}
