import {
  boundStoredTimes,
  type CircuitOverride,
  type CircuitPolicy,
  type CircuitStateData,
  type CircuitWindow,
  isTombstone,
  type ProbeLease,
  STATE_SCHEMA_VERSION,
  type StoredCircuit,
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
const LEASE = /^([A-Za-z0-9.:_-]{1,64}),(\d{1,16}),(\d{1,16})$/;
const BUCKET = /^(\d{1,16}),(\d{1,16}),(\d{1,16}),(\d{1,16})$/;
const COUNT_OUTCOMES = /^[sSfF]*$/;
const STATES = new Set(['closed', 'open', 'half_open']);
const MODES = new Set(['forced_open', 'forced_closed']);

export interface DecodeResult {
  /** The state or tombstone, or `undefined` when the data is unusable (treated as absent). */
  readonly stored: StoredCircuit | undefined;
  /** What was wrong, or `null`. `clamped:<field>` means times were bounded at now. */
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

/** The last field (in the script's order) that bounding changed, for the `clamped:` report. */
function clampedField(before: CircuitStateData, after: CircuitStateData): string | null {
  let field: string | null = null;
  for (const key of ['lastFailureTime', 'lastSuccessTime', 'lastStateChange'] as const) {
    if (after[key] !== before[key]) field = key;
  }
  if (after.override?.setAt !== before.override?.setAt) field = 'overrideSetAt';
  if (after.openUntil !== before.openUntil) field = 'openUntil';
  if (after.probes.some((lease, i) => lease.expiresAt !== before.probes[i]?.expiresAt)) field = 'probes';
  return field;
}

/**
 * Decodes a circuit's hash, validating every field; mirrors `decode()` in `transition.lua`. With
 * `bound`, times are bounded at `bound.now` by `bound`'s limits, as `boundStoredTimes()` does (reads
 * without a policy use cb-core's `READ_LIMITS`); without it, data is taken as written (what a script just
 * returned).
 */
export function decodeStored(
  h: Record<string, string>,
  bound: {
    readonly now: number;
    readonly limits: Pick<CircuitPolicy, 'maxOpenTimeoutMs' | 'probeLeaseMs'>;
  } | null,
): DecodeResult {
  const fail = (problem: string): DecodeResult => ({ stored: undefined, problem });
  if (h.schemaVersion !== String(STATE_SCHEMA_VERSION)) return fail('schemaVersion is not 1');
  let decidedAt = 0;
  if (h.decidedAt !== undefined) {
    const value = integer(h.decidedAt);
    if (value === undefined) return fail('decidedAt is not a non-negative integer');
    decidedAt = value;
  }
  if (h.deleted !== undefined) {
    const version = integer(h.version);
    if (h.deleted !== '1' || version === undefined) return fail('tombstone is malformed');
    return { stored: { deleted: true, version, decidedAt }, problem: null };
  }
  if (h.state === undefined || !STATES.has(h.state)) return fail('unknown state');
  const numbers: Record<(typeof INTEGER_FIELDS)[number], number> = Object.create(null);
  for (const field of INTEGER_FIELDS) {
    const value = integer(h[field]);
    if (value === undefined) return fail(`${field} is not a non-negative integer`);
    numbers[field] = value;
  }
  let override: CircuitOverride | null = null;
  if (h.overrideMode !== undefined) {
    if (!MODES.has(h.overrideMode)) return fail('unknown override mode');
    const setAt = integer(h.overrideSetAt);
    if (setAt === undefined) return fail('overrideSetAt is not a time');
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
    probes.push({ id: match[1] as string, round: Number(match[2]), expiresAt: Number(match[3]) });
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
  const state: CircuitStateData = {
    schemaVersion: STATE_SCHEMA_VERSION,
    state: h.state as CircuitStateData['state'],
    ...numbers,
    override,
    probes,
    window,
    decidedAt,
  };
  if (bound === null) return { stored: state, problem: null };
  const bounded = boundStoredTimes(state, bound.limits, bound.now);
  if (bounded === state) return { stored: state, problem: null };
  return { stored: bounded, problem: `clamped:${clampedField(state, bounded) ?? 'times'}` };
}

/** Encodes a state or tombstone as the hash's `[field, value, ...]`; mirrors `encode()` in `transition.lua`. */
export function encodeStored(stored: StoredCircuit): string[] {
  if (isTombstone(stored)) {
    return [
      'schemaVersion',
      String(STATE_SCHEMA_VERSION),
      'deleted',
      '1',
      'version',
      String(stored.version),
      'decidedAt',
      String(stored.decidedAt),
    ];
  }
  const s = stored;
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
    'decidedAt',
    String(s.decidedAt),
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
