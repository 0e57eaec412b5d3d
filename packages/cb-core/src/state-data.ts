import { type CircuitStateData, STATE_SCHEMA_VERSION } from './circuit-state.js';
import { InvalidStateDataError } from './errors/invalid-state-data-error.js';
import type { OverrideRequest } from './store.js';

const STATES = new Set(['closed', 'open', 'half_open']);
const MODES = new Set(['forced_open', 'forced_closed']);

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Times are whole epoch milliseconds: what every store writes and what a hash field can hold. */
const isTime = isCount;

/** Lease ids travel inside stored data, so they are restricted to a safe alphabet. */
export const LEASE_ID = /^[A-Za-z0-9.:_-]{1,64}$/;

/** Longest override reason, in UTF-16 code units. */
export const MAX_OVERRIDE_REASON_LENGTH = 1_024;

/**
 * Describes what is wrong with `value` as a {@link CircuitStateData}, or returns `null` when it is
 * valid. Stores use it on everything they read; nothing invalid reaches a breaker.
 */
export function findStateDataProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null) return 'state data must be an object';
  const data = value as Record<string, unknown>;
  if (data.schemaVersion !== STATE_SCHEMA_VERSION) {
    return `schemaVersion must be ${STATE_SCHEMA_VERSION}, got ${String(data.schemaVersion)}`;
  }
  if (typeof data.state !== 'string' || !STATES.has(data.state))
    return `unknown state ${JSON.stringify(data.state)}`;
  for (const key of [
    'failureCount',
    'successCount',
    'version',
    'consecutiveOpens',
    'halfOpenRound',
  ] as const) {
    if (!isCount(data[key])) return `${key} must be a non-negative integer, got ${String(data[key])}`;
  }
  for (const key of [
    'lastFailureTime',
    'lastSuccessTime',
    'lastStateChange',
    'openUntil',
    'decidedAt',
  ] as const) {
    if (!isTime(data[key]))
      return `${key} must be whole epoch milliseconds (a safe integer), got ${String(data[key])}`;
  }
  const override = data.override;
  if (override !== null) {
    if (typeof override !== 'object' || override === undefined) return 'override must be an object or null';
    const o = override as Record<string, unknown>;
    if (typeof o.mode !== 'string' || !MODES.has(o.mode))
      return `unknown override mode ${JSON.stringify(o.mode)}`;
    if (o.reason !== null && (typeof o.reason !== 'string' || o.reason.length > MAX_OVERRIDE_REASON_LENGTH)) {
      return `override.reason must be a string of at most ${MAX_OVERRIDE_REASON_LENGTH} characters or null`;
    }
    if (o.expiresAt !== null && !isTime(o.expiresAt))
      return 'override.expiresAt must be whole epoch milliseconds or null';
    if (!isTime(o.setAt)) return 'override.setAt must be whole epoch milliseconds';
  }
  if (!Array.isArray(data.probes)) return 'probes must be an array';
  for (const lease of data.probes as unknown[]) {
    const l = lease as Record<string, unknown> | null;
    if (
      l === null ||
      typeof l !== 'object' ||
      typeof l.id !== 'string' ||
      !LEASE_ID.test(l.id) ||
      !isCount(l.round) ||
      !isTime(l.expiresAt)
    ) {
      return 'probes must hold { id, round, expiresAt } leases with ids of 1 to 64 of A-Z a-z 0-9 . : _ -';
    }
  }
  const window = data.window as Record<string, unknown> | null | undefined;
  if (window === null || typeof window !== 'object') return 'window must be an object';
  if (window.kind === 'none') return null;
  if (window.kind === 'count') {
    return typeof window.outcomes === 'string' &&
      window.outcomes.length <= 10_000 &&
      /^[sSfF]*$/.test(window.outcomes)
      ? null
      : 'window.outcomes must be a string of at most 10,000 of s, S, f, F';
  }
  if (window.kind === 'time') {
    if (!Array.isArray(window.buckets)) return 'window.buckets must be an array';
    for (const bucket of window.buckets as unknown[]) {
      const b = bucket as Record<string, unknown> | null;
      if (b === null || typeof b !== 'object' || !isTime(b.start) || !isCount(b.calls)) {
        return 'window.buckets must hold { start, calls, failures, slow } buckets';
      }
      if (!isCount(b.failures) || !isCount(b.slow) || b.failures > b.calls || b.slow > b.calls) {
        return 'window bucket counts must be non-negative and at most calls';
      }
    }
    return null;
  }
  return `unknown window kind ${JSON.stringify(window.kind)}`;
}

/**
 * Returns `value` typed as {@link CircuitStateData} when valid.
 * @throws {InvalidStateDataError} naming the first problem found.
 */
export function assertStateData(value: unknown): CircuitStateData {
  const problem = findStateDataProblem(value);
  if (problem !== null) throw new InvalidStateDataError(`Invalid circuit state data: ${problem}`);
  return value as CircuitStateData;
}

const MODES_OF_REQUEST = new Set(['forced_open', 'forced_closed']);

/**
 * Checks an override request before a store writes anything.
 * @throws {TypeError} a field has the wrong type or an unknown mode, naming the field.
 * @throws {RangeError} a duration or time is not a whole, non-negative number of milliseconds.
 */
export function assertOverrideRequest(request: unknown): OverrideRequest | null {
  if (request === null) return null;
  if (typeof request !== 'object' || request === undefined || Array.isArray(request)) {
    throw new TypeError('override must be an object or null');
  }
  const r = request as Record<string, unknown>;
  for (const key of Object.keys(r)) {
    if (!['mode', 'reason', 'durationMs', 'expiresAt'].includes(key)) {
      throw new TypeError(`override has an unknown field ${JSON.stringify(key)}`);
    }
  }
  if (typeof r.mode !== 'string' || !MODES_OF_REQUEST.has(r.mode)) {
    throw new TypeError(
      `override.mode must be "forced_open" or "forced_closed", got ${JSON.stringify(r.mode)}`,
    );
  }
  if (r.reason != null && (typeof r.reason !== 'string' || r.reason.length > MAX_OVERRIDE_REASON_LENGTH)) {
    throw new TypeError(
      `override.reason must be a string of at most ${MAX_OVERRIDE_REASON_LENGTH} characters`,
    );
  }
  for (const key of ['durationMs', 'expiresAt'] as const) {
    const value = r[key];
    if (value == null) continue;
    if (typeof value !== 'number')
      throw new TypeError(`override.${key} must be a number, got ${typeof value}`);
    if (!Number.isSafeInteger(value) || value < (key === 'durationMs' ? 1 : 0)) {
      throw new RangeError(
        `override.${key} must be a ${key === 'durationMs' ? 'positive' : 'non-negative'} whole number of milliseconds, got ${value}`,
      );
    }
  }
  return request as OverrideRequest;
}
