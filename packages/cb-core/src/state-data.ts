import { type CircuitStateData, STATE_SCHEMA_VERSION } from './circuit-state.js';
import { InvalidStateDataError } from './errors/invalid-state-data-error.js';

const STATES = new Set(['closed', 'open', 'half_open']);
const MODES = new Set(['forced_open', 'forced_closed']);

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

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
  for (const key of ['lastFailureTime', 'lastSuccessTime', 'lastStateChange', 'openUntil'] as const) {
    if (!isTime(data[key])) return `${key} must be a non-negative finite number, got ${String(data[key])}`;
  }
  const override = data.override;
  if (override !== null) {
    if (typeof override !== 'object' || override === undefined) return 'override must be an object or null';
    const o = override as Record<string, unknown>;
    if (typeof o.mode !== 'string' || !MODES.has(o.mode))
      return `unknown override mode ${JSON.stringify(o.mode)}`;
    if (o.reason !== null && typeof o.reason !== 'string') return 'override.reason must be a string or null';
    if (o.expiresAt !== null && !isTime(o.expiresAt)) return 'override.expiresAt must be a time or null';
    if (!isTime(o.setAt)) return 'override.setAt must be a time';
  }
  if (!Array.isArray(data.probes)) return 'probes must be an array';
  for (const lease of data.probes as unknown[]) {
    const l = lease as Record<string, unknown> | null;
    if (
      l === null ||
      typeof l !== 'object' ||
      typeof l.id !== 'string' ||
      !isCount(l.round) ||
      !isTime(l.expiresAt)
    ) {
      return 'probes must hold { id, round, expiresAt } leases';
    }
  }
  const window = data.window as Record<string, unknown> | null | undefined;
  if (window === null || typeof window !== 'object') return 'window must be an object';
  if (window.kind === 'none') return null;
  if (window.kind === 'count') {
    return typeof window.outcomes === 'string' && /^[sSfF]*$/.test(window.outcomes)
      ? null
      : 'window.outcomes must be a string of s, S, f, F';
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
