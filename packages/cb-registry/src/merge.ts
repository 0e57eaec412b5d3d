import {
  type CircuitOverride,
  type CircuitState,
  type CircuitStateData,
  type CircuitTombstone,
  isTombstone,
  type ProbeLease,
  type StoredCircuit,
} from '@xnai/cb-core';

const SEVERITY: Readonly<Record<CircuitState, number>> = Object.freeze({ closed: 0, half_open: 1, open: 2 });

type Plain = null | boolean | number | string | readonly Plain[] | { readonly [key: string]: Plain };

const TYPE_RANK: Record<string, number> = { null: 0, boolean: 1, number: 2, string: 3, array: 4, object: 5 };

function typeOf(value: Plain): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/**
 * A total order on plain data: numbers by value (so a count of 10 is above 9, which comparing text
 * got wrong), strings by code unit, arrays element by element, objects by sorted keys then values.
 */
export function comparePlain(a: Plain, b: Plain): number {
  const ta = typeOf(a);
  const tb = typeOf(b);
  if (ta !== tb) return (TYPE_RANK[ta] ?? 0) - (TYPE_RANK[tb] ?? 0);
  switch (ta) {
    case 'null':
      return 0;
    case 'boolean':
    case 'number':
    case 'string':
      return a === b ? 0 : (a as number | string | boolean) < (b as number | string | boolean) ? -1 : 1;
    case 'array': {
      const x = a as readonly Plain[];
      const y = b as readonly Plain[];
      for (let i = 0; i < Math.min(x.length, y.length); i++) {
        const order = comparePlain(x[i] as Plain, y[i] as Plain);
        if (order !== 0) return order;
      }
      return x.length - y.length;
    }
    default: {
      const x = a as { readonly [key: string]: Plain };
      const y = b as { readonly [key: string]: Plain };
      const keys = [...new Set([...Object.keys(x), ...Object.keys(y)])].sort();
      for (const key of keys) {
        if (!(key in x)) return -1;
        if (!(key in y)) return 1;
        const order = comparePlain(x[key] as Plain, y[key] as Plain);
        if (order !== 0) return order;
      }
      return 0;
    }
  }
}

function compareNumbers(a: number, b: number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** `null` sorts before every string. */
function compareNullableStrings(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return a < b ? -1 : 1;
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

/**
 * Of two overrides that stem from the same decision, the one that holds: one beats none; of two, the
 * one set later (see {@link compareOverrides}).
 */
export function mergeOverrides(a: CircuitOverride | null, b: CircuitOverride | null): CircuitOverride | null {
  if (a === null) return b;
  if (b === null) return a;
  return compareOverrides(a, b) >= 0 ? a : b;
}

function probesOfRound(probes: readonly ProbeLease[], round: number): ProbeLease[] {
  return probes.filter((lease) => lease.round === round);
}

/**
 * The state-machine part that is taken whole from the winning side. Fields merged separately
 * (times, round, version, override, decision) are left out, so a merged result compares with its
 * inputs exactly as the side it came from did: that is what makes the merge idempotent.
 */
function machine(data: CircuitStateData, round: number): Plain {
  return [
    data.state,
    data.failureCount,
    data.successCount,
    data.lastStateChange,
    data.consecutiveOpens,
    data.openUntil,
    data.window.kind,
    data.window.kind === 'count'
      ? data.window.outcomes
      : data.window.kind === 'time'
        ? data.window.buckets.map((b) => [b.start, b.calls, b.failures, b.slow])
        : null,
    probesOfRound(data.probes, round).map((lease) => [lease.id, lease.round, lease.expiresAt]),
  ];
}

/**
 * Orders two copies of one circuit by which one holds after a reconciliation:
 *
 * 1. the later **decision** (`decidedAt`): an operator action (reset, override set or cleared,
 *    `setState`, delete) or a status change the store of record made. A copy an instance kept changing
 *    while it was cut off keeps the decision it started from, so whatever the fleet decided meanwhile
 *    wins over transitions derived from older history;
 * 2. at the same decision, a deletion over a state;
 * 3. between two states of the same decision (both sides went on from it, as during an outage of
 *    Redis itself): the newer transition (`lastStateChange`), then the more severe state
 *    (open > half_open > closed), then a numeric comparison of the state-machine fields, so that the
 *    result never depends on argument order.
 *
 * The version is deliberately not a tie-breaker: the merged version is the larger of both, so a
 * result would compare differently from the side it came from and the merge would stop being
 * associative.
 */
function compareEntries(a: StoredCircuit, b: StoredCircuit, round: number): number {
  const decided = compareNumbers(a.decidedAt, b.decidedAt);
  if (decided !== 0) return decided;
  const aDeleted = isTombstone(a);
  const bDeleted = isTombstone(b);
  if (aDeleted !== bDeleted) return aDeleted ? 1 : -1;
  if (aDeleted || bDeleted) return 0;
  const x = a as CircuitStateData;
  const y = b as CircuitStateData;
  return (
    compareNumbers(x.lastStateChange, y.lastStateChange) ||
    compareNumbers(SEVERITY[x.state], SEVERITY[y.state]) ||
    comparePlain(machine(x, round), machine(y, round))
  );
}

/**
 * Merges two copies of one circuit — what Redis holds and what an instance's warm mirror holds after
 * it was cut off — by fixed rules (see {@link compareEntries} for which copy wins):
 *
 * - the winner is taken whole: its state machine (state, counts, open period, backoff, window,
 *   probes), its decision and, when it is a state, its override;
 * - between two states of the same decision (both went on from it), the override is
 *   {@link mergeOverrides} of both and `lastFailureTime`, `lastSuccessTime` and `halfOpenRound` are
 *   the larger of both; probes of another half-open round than the merged one are dropped;
 * - `version` is the larger of both, always;
 * - a deletion (tombstone) that wins yields a tombstone;
 * - a side that is `undefined` (nothing stored there) yields the other side unchanged.
 *
 * Pure and deterministic; commutative (`mergeStates(a, b)` deep-equals `mergeStates(b, a)`),
 * associative and idempotent, so instances reconciling in any order agree.
 *
 * @example
 * ```ts
 * const merged = mergeStates(await redisStore.peek('payments'), mirror.peek('payments'));
 * ```
 */
export function mergeStates(
  a: StoredCircuit | undefined,
  b: StoredCircuit | undefined,
): StoredCircuit | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  const round = Math.max(isTombstone(a) ? 0 : a.halfOpenRound, isTombstone(b) ? 0 : b.halfOpenRound);
  const winner = compareEntries(a, b, round) >= 0 ? a : b;
  const loser = winner === a ? b : a;
  const version = Math.max(a.version, b.version);
  if (isTombstone(winner)) {
    const tombstone: CircuitTombstone = { deleted: true, version, decidedAt: winner.decidedAt };
    return tombstone;
  }
  const peer = !isTombstone(loser) && loser.decidedAt === winner.decidedAt ? loser : null;
  const halfOpenRound = peer === null ? winner.halfOpenRound : round;
  return {
    schemaVersion: winner.schemaVersion,
    state: winner.state,
    failureCount: winner.failureCount,
    successCount: winner.successCount,
    lastFailureTime: Math.max(winner.lastFailureTime, peer?.lastFailureTime ?? 0),
    lastSuccessTime: Math.max(winner.lastSuccessTime, peer?.lastSuccessTime ?? 0),
    lastStateChange: winner.lastStateChange,
    version,
    consecutiveOpens: winner.consecutiveOpens,
    openUntil: winner.openUntil,
    halfOpenRound,
    override: peer === null ? winner.override : mergeOverrides(winner.override, peer.override),
    probes: probesOfRound(winner.probes, halfOpenRound),
    window: winner.window,
    decidedAt: winner.decidedAt,
  };
}

/** JSON with object keys sorted, so equal data gives equal text whatever built it. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) => {
    if (inner === null || typeof inner !== 'object' || Array.isArray(inner)) return inner;
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(inner).sort()) sorted[key] = (inner as Record<string, unknown>)[key];
    return sorted;
  });
}

function byId(a: ProbeLease, b: ProbeLease): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * `true` when two copies hold the same circuit data apart from `version`: writing one over the other
 * would change nothing a breaker acts on.
 */
export function sameStateContent(a: StoredCircuit, b: StoredCircuit): boolean {
  const comparable = (entry: StoredCircuit) =>
    isTombstone(entry)
      ? { ...entry, version: 0 }
      : { ...entry, version: 0, probes: [...entry.probes].sort(byId) };
  return canonicalJson(comparable(a)) === canonicalJson(comparable(b));
}
