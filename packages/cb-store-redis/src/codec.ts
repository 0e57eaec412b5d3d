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

/**
 * A circuit's hash holds one field, {@link DATA_FIELD}: the whole state packed in one string, read
 * and written whole (one HGET, one HSET per script; decoding a hash of 16 fields cost most of a
 * script's Redis time). The layout, `|`-separated, schema version first:
 *
 * `1|state|failureCount|successCount|lastFailureTime|lastSuccessTime|lastStateChange|version|`
 * `consecutiveOpens|openUntil|halfOpenRound|decidedAt|probes|windowKind|window|overrideMode|`
 * `overrideSetAt|overrideExpiresAt|overrideReason`
 *
 * probes as `id,round,expiresAt;…`, a count window as its codes (`s S f F`), a time window as
 * `start,calls,failures,slow;…`; the override fields empty when there is none, overrideExpiresAt
 * empty for no expiry, overrideReason `''` for none and `=` followed by the reason otherwise (it may
 * hold anything, `|` included, so it comes last). A tombstone is `1|deleted|version|decidedAt`.
 * Mirrors `decode()` and `encode()` in `transition.lua`.
 */
export const DATA_FIELD = 'data';

/** Integer fields in layout order (after schema version and state). */
const INTEGER_FIELDS = [
  'failureCount',
  'successCount',
  'lastFailureTime',
  'lastSuccessTime',
  'lastStateChange',
  'version',
  'consecutiveOpens',
  'openUntil',
  'halfOpenRound',
  'decidedAt',
] as const;

const MAX_COUNT_WINDOW = 10_000;
const INTEGER = /^\d{1,16}$/;
const PACKED =
  /^1\|([a-z][a-z_]*)\|(\d+)\|(\d+)\|(\d+)\|(\d+)\|(\d+)\|(\d+)\|(\d+)\|(\d+)\|(\d+)\|(\d+)\|([^|]*)\|([a-z]*)\|([^|]*)\|([a-z_]*)\|(\d*)\|(\d*)\|([\s\S]*)$/;
const TOMBSTONE = /^1\|deleted\|(\d+)\|(\d+)$/;
const LEASE = /^([A-Za-z0-9.:_-]+),(\d+),(\d+)$/;
const BUCKET = /^(\d+),(\d+),(\d+),(\d+)$/;
const COUNT_OUTCOMES = /^[sSfF]*$/;
const STATES = new Set(['closed', 'open', 'half_open']);
const MODES = new Set(['forced_open', 'forced_closed']);

export interface DecodeResult {
  /** The state or tombstone, or `undefined` when the data is unusable (treated as absent). */
  readonly stored: StoredCircuit | undefined;
  /** What was wrong, or `null`. `clamped:<field>` means times were bounded at now. */
  readonly problem: string | null;
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

/** Names what is wrong with data that does not match the layout, as `diagnose()` in the script does. */
function diagnose(d: string): string {
  const parts: string[] = [];
  let from = 0;
  while (parts.length < 18) {
    const bar = d.indexOf('|', from);
    if (bar === -1) break;
    parts.push(d.slice(from, bar));
    from = bar + 1;
  }
  parts.push(d.slice(from));
  if (parts[0] !== '1') return 'schemaVersion is not 1';
  if (parts[1] === 'deleted') return 'tombstone is malformed';
  if (!STATES.has(parts[1] ?? '')) return 'unknown state';
  for (const [i, field] of INTEGER_FIELDS.entries()) {
    if (!INTEGER.test(parts[i + 2] ?? '')) return `${field} is not a non-negative integer`;
  }
  if (parts.length < 19) return 'data has too few fields';
  if (/[^A-Za-z0-9.:_\-,;]/.test(parts[12] as string)) return 'probes are malformed';
  if (/[^a-z]/.test(parts[13] as string)) return 'unknown window kind';
  if (/[^sSfF0-9,;]/.test(parts[14] as string)) return 'window is malformed';
  if (/[^a-z_]/.test(parts[15] as string)) return 'unknown override mode';
  if (/[^0-9]/.test(parts[16] as string)) return 'overrideSetAt is not a time';
  return 'overrideExpiresAt is not a time';
}

/**
 * Decodes a circuit's packed data, validating every field; mirrors `decode()` in `transition.lua`.
 * With `bound`, times are bounded at `bound.now` by `bound`'s limits, as `boundStoredTimes()` does
 * (reads without a policy use cb-core's `READ_LIMITS`); without it, data is taken as written (what
 * a script just returned).
 */
export function decodeStored(
  d: string,
  bound: {
    readonly now: number;
    readonly limits: Pick<CircuitPolicy, 'maxOpenTimeoutMs' | 'probeLeaseMs'>;
  } | null,
): DecodeResult {
  const fail = (problem: string): DecodeResult => ({ stored: undefined, problem });
  const m = PACKED.exec(d);
  if (m === null) {
    const t = TOMBSTONE.exec(d);
    if (t === null) return fail(diagnose(d));
    const [version, decidedAt] = [t[1] as string, t[2] as string];
    if (version.length > 16 || decidedAt.length > 16) return fail('tombstone is malformed');
    return {
      stored: { deleted: true, version: Number(version), decidedAt: Number(decidedAt) },
      problem: null,
    };
  }
  const state = m[1] as string;
  if (!STATES.has(state)) return fail('unknown state');
  const numbers: Record<(typeof INTEGER_FIELDS)[number], number> = Object.create(null);
  for (const [i, field] of INTEGER_FIELDS.entries()) {
    const text = m[i + 2] as string;
    if (text.length > 16) return fail(`${field} is not a non-negative integer`);
    numbers[field] = Number(text);
  }
  const [probesText, windowKind, windowText, mode, setAt, expiresAt, reason] = m.slice(12) as string[];
  const probes: ProbeLease[] = [];
  for (const item of (probesText as string).split(';')) {
    if (item === '') continue;
    const lease = LEASE.exec(item);
    if (
      lease === null ||
      (lease[1] as string).length > 64 ||
      (lease[2] as string).length > 16 ||
      (lease[3] as string).length > 16
    ) {
      return fail('probes are malformed');
    }
    probes.push({ id: lease[1] as string, round: Number(lease[2]), expiresAt: Number(lease[3]) });
  }
  let window: CircuitWindow;
  switch (windowKind) {
    case 'none':
      if (windowText !== '') return fail('window is malformed');
      window = { kind: 'none' };
      break;
    case 'count': {
      const outcomes = windowText as string;
      if (outcomes.length > MAX_COUNT_WINDOW || !COUNT_OUTCOMES.test(outcomes))
        return fail('window is malformed');
      window = { kind: 'count', outcomes };
      break;
    }
    case 'time': {
      const buckets: TimeBucket[] = [];
      for (const item of (windowText as string).split(';')) {
        if (item === '') continue;
        const match = BUCKET.exec(item);
        if (match === null || match.slice(1).some((part) => part.length > 16))
          return fail('window is malformed');
        const [start, calls, failures, slow] = match.slice(1).map(Number) as [number, number, number, number];
        if (failures > calls || slow > calls) return fail('window is malformed');
        buckets.push({ start, calls, failures, slow });
      }
      window = { kind: 'time', buckets };
      break;
    }
    default:
      return fail('unknown window kind');
  }
  let override: CircuitOverride | null = null;
  if (mode !== '') {
    if (!MODES.has(mode as string)) return fail('unknown override mode');
    if ((setAt as string).length === 0 || (setAt as string).length > 16)
      return fail('overrideSetAt is not a time');
    if ((expiresAt as string).length > 16) return fail('overrideExpiresAt is not a time');
    if (reason !== '' && !(reason as string).startsWith('=')) return fail('overrideReason is malformed');
    override = {
      mode: mode as CircuitOverride['mode'],
      reason: reason === '' ? null : (reason as string).slice(1),
      expiresAt: expiresAt === '' ? null : Number(expiresAt),
      setAt: Number(setAt),
    };
  } else if (setAt !== '' || expiresAt !== '' || reason !== '') {
    return fail('unknown override mode');
  }
  const data: CircuitStateData = {
    schemaVersion: STATE_SCHEMA_VERSION,
    state: state as CircuitStateData['state'],
    ...numbers,
    override,
    probes,
    window,
  };
  if (bound === null) return { stored: data, problem: null };
  const bounded = boundStoredTimes(data, bound.limits, bound.now);
  if (bounded === data) return { stored: data, problem: null };
  return { stored: bounded, problem: `clamped:${clampedField(data, bounded) ?? 'times'}` };
}

/** Packs a state or tombstone as the hash's {@link DATA_FIELD}; mirrors `encode()` in `transition.lua`. */
export function encodeStored(stored: StoredCircuit): string {
  if (isTombstone(stored)) return `1|deleted|${stored.version}|${stored.decidedAt}`;
  const s = stored;
  const probes = s.probes.map((lease) => `${lease.id},${lease.round},${lease.expiresAt}`).join(';');
  const window =
    s.window.kind === 'count'
      ? s.window.outcomes
      : s.window.kind === 'time'
        ? s.window.buckets.map((b) => `${b.start},${b.calls},${b.failures},${b.slow}`).join(';')
        : '';
  const o = s.override;
  const override =
    o === null
      ? '|||'
      : `${o.mode}|${o.setAt}|${o.expiresAt === null ? '' : o.expiresAt}|${o.reason === null ? '' : `=${o.reason}`}`;
  return (
    `1|${s.state}|${s.failureCount}|${s.successCount}|${s.lastFailureTime}|${s.lastSuccessTime}|` +
    `${s.lastStateChange}|${s.version}|${s.consecutiveOpens}|${s.openUntil}|${s.halfOpenRound}|` +
    `${s.decidedAt}|${probes}|${s.window.kind}|${window}|${override}`
  );
}

/** Encodings of frozen policies (resolvePolicy() interns them: one object per configuration). */
const encodedPolicies = new WeakMap<CircuitPolicy, readonly string[]>();

/** The policy as the script's ARGV[6..20]; computed once per frozen policy object. */
export function encodePolicy(p: CircuitPolicy): readonly string[] {
  const known = encodedPolicies.get(p);
  if (known !== undefined) return known;
  const encoded = encodePolicyFields(p);
  if (Object.isFrozen(p)) encodedPolicies.set(p, encoded);
  return encoded;
}

function encodePolicyFields(p: CircuitPolicy): string[] {
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
