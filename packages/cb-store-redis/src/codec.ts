import {
  type CircuitOverride,
  type CircuitPolicy,
  type CircuitStateData,
  type CircuitWindow,
  type ProbeLease,
  STATE_SCHEMA_VERSION,
  type TimeBucket,
} from '@xnai/cb-core';

/** Field names of a circuit's hash. */
const INTEGER_FIELDS = [
  'failureCount',
  'successCount',
  'version',
  'consecutiveOpens',
  'halfOpenRound',
  'lastFailureTime',
  'lastSuccessTime',
  'lastStateChange',
  'openUntil',
] as const;

const MAX_COUNT_WINDOW = 10_000;
const INTEGER = /^\d{1,16}$/;
const LEASE = /^([A-Za-z0-9.:_-]+),(\d{1,16}),(\d{1,16})$/;
const BUCKET = /^(\d{1,16}),(\d{1,16}),(\d{1,16}),(\d{1,16})$/;
const COUNT_OUTCOMES = /^[sSfF]*$/;
const STATES = new Set(['closed', 'open', 'half_open']);
const MODES = new Set(['forced_open', 'forced_closed']);

/** Lease ids travel inside the hash's `probes` field, so they are restricted to a safe alphabet. */
export const LEASE_ID = /^[A-Za-z0-9.:_-]{1,64}$/;

export interface DecodeResult {
  /** The state, or `undefined` when the data is unusable (treated as absent). */
  readonly state: CircuitStateData | undefined;
  /** What was wrong, or `null`. `clamped:<field>` means future times were pulled back to now. */
  readonly problem: string | null;
}

function integer(value: string | undefined): number | undefined {
  return value !== undefined && INTEGER.test(value) ? Number(value) : undefined;
}

/** Turns a flat `[field, value, ...]` reply into a record. */
export function toRecord(flat: readonly unknown[], from = 0): Record<string, string> {
  const record: Record<string, string> = Object.create(null);
  for (let i = from; i + 1 < flat.length; i += 2) {
    record[String(flat[i])] = String(flat[i + 1]);
  }
  return record;
}

/**
 * Decodes a circuit's hash, validating every field; mirrors `decode()` in `transition.lua`.
 * `limits` bounds how far in the future `openUntil` and lease expiries may plausibly be.
 */
export function decodeState(
  h: Record<string, string>,
  now: number,
  limits: Pick<CircuitPolicy, 'maxOpenTimeoutMs' | 'probeLeaseMs'>,
): DecodeResult {
  const fail = (problem: string): DecodeResult => ({ state: undefined, problem });
  if (h.schemaVersion !== String(STATE_SCHEMA_VERSION)) return fail('schemaVersion is not 1');
  if (h.state === undefined || !STATES.has(h.state)) return fail('unknown state');
  const numbers: Record<(typeof INTEGER_FIELDS)[number], number> = Object.create(null);
  for (const field of INTEGER_FIELDS) {
    const value = integer(h[field]);
    if (value === undefined) return fail(`${field} is not a non-negative integer`);
    numbers[field] = value;
  }
  let clamped: string | null = null;
  for (const field of ['lastFailureTime', 'lastSuccessTime', 'lastStateChange'] as const) {
    if (numbers[field] > now) {
      numbers[field] = now;
      clamped = field;
    }
  }
  if (numbers.openUntil > now + limits.maxOpenTimeoutMs) {
    numbers.openUntil = now + limits.maxOpenTimeoutMs;
    clamped = 'openUntil';
  }
  let override: CircuitOverride | null = null;
  if (h.overrideMode !== undefined) {
    if (!MODES.has(h.overrideMode)) return fail('unknown override mode');
    let setAt = integer(h.overrideSetAt);
    if (setAt === undefined) return fail('overrideSetAt is not a time');
    if (setAt > now) {
      setAt = now;
      clamped = 'overrideSetAt';
    }
    let expiresAt: number | null = null;
    if (h.overrideExpiresAt !== undefined) {
      const value = integer(h.overrideExpiresAt);
      if (value === undefined) return fail('overrideExpiresAt is not a time');
      expiresAt = value;
    }
    override = {
      mode: h.overrideMode as CircuitOverride['mode'],
      reason: h.overrideReason ?? null,
      expiresAt,
      setAt,
    };
  }
  const probes: ProbeLease[] = [];
  for (const item of (h.probes ?? '').split(';')) {
    if (item === '') continue;
    const match = LEASE.exec(item);
    if (match === null) return fail('probes are malformed');
    let expiresAt = Number(match[3]);
    if (expiresAt > now + limits.probeLeaseMs) {
      expiresAt = now + limits.probeLeaseMs;
      clamped = 'probes';
    }
    probes.push({ id: match[1] as string, round: Number(match[2]), expiresAt });
  }
  let window: CircuitWindow;
  switch (h.windowKind) {
    case 'none':
      window = { kind: 'none' };
      break;
    case 'count': {
      const outcomes = h.window ?? '';
      if (outcomes.length > MAX_COUNT_WINDOW || !COUNT_OUTCOMES.test(outcomes))
        return fail('window is malformed');
      window = { kind: 'count', outcomes };
      break;
    }
    case 'time': {
      const buckets: TimeBucket[] = [];
      for (const item of (h.window ?? '').split(';')) {
        if (item === '') continue;
        const match = BUCKET.exec(item);
        if (match === null) return fail('window is malformed');
        const [start, calls, failures, slow] = [match[1], match[2], match[3], match[4]].map(Number) as [
          number,
          number,
          number,
          number,
        ];
        if (failures > calls || slow > calls) return fail('window is malformed');
        buckets.push({ start, calls, failures, slow });
      }
      window = { kind: 'time', buckets };
      break;
    }
    default:
      return fail('unknown window kind');
  }
  return {
    state: {
      schemaVersion: STATE_SCHEMA_VERSION,
      state: h.state as CircuitStateData['state'],
      ...numbers,
      override,
      probes,
      window,
    },
    problem: clamped === null ? null : `clamped:${clamped}`,
  };
}

/** Encodes state as the hash's `[field, value, ...]`; mirrors `encode()` in `transition.lua`. */
export function encodeState(s: CircuitStateData): string[] {
  const fields = [
    'schemaVersion',
    String(STATE_SCHEMA_VERSION),
    'state',
    s.state,
    'failureCount',
    String(s.failureCount),
    'successCount',
    String(s.successCount),
    'lastFailureTime',
    String(s.lastFailureTime),
    'lastSuccessTime',
    String(s.lastSuccessTime),
    'lastStateChange',
    String(s.lastStateChange),
    'version',
    String(s.version),
    'consecutiveOpens',
    String(s.consecutiveOpens),
    'openUntil',
    String(s.openUntil),
    'halfOpenRound',
    String(s.halfOpenRound),
    'probes',
    s.probes.map((lease) => `${lease.id},${lease.round},${lease.expiresAt}`).join(';'),
    'windowKind',
    s.window.kind,
  ];
  if (s.window.kind === 'count') fields.push('window', s.window.outcomes);
  else if (s.window.kind === 'time') {
    fields.push(
      'window',
      s.window.buckets.map((b) => `${b.start},${b.calls},${b.failures},${b.slow}`).join(';'),
    );
  }
  if (s.override !== null) {
    fields.push('overrideMode', s.override.mode, 'overrideSetAt', String(s.override.setAt));
    if (s.override.expiresAt !== null) fields.push('overrideExpiresAt', String(s.override.expiresAt));
    if (s.override.reason !== null) fields.push('overrideReason', s.override.reason);
  }
  return fields;
}

/** The policy as the script's ARGV[6..20]. */
export function encodePolicy(p: CircuitPolicy): string[] {
  const w = p.slidingWindow;
  return [
    String(p.failureThreshold),
    String(p.successThreshold),
    String(p.halfOpenMaxCalls),
    String(p.openTimeoutMs),
    String(p.maxOpenTimeoutMs),
    String(p.backoffMultiplier),
    String(p.jitterRatio),
    w === null ? 'none' : w.type,
    w === null ? '0' : w.type === 'count' ? String(w.size) : String(w.durationMs),
    w !== null && w.type === 'time' ? String(w.bucketCount) : '0',
    String(p.failureRateThreshold),
    String(p.minimumCalls),
    p.slowCallDurationMs === null ? '' : String(p.slowCallDurationMs),
    String(p.slowCallRateThreshold),
    String(p.probeLeaseMs),
  ];
}
