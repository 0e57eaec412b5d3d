import {
  type CallOutcome,
  type CircuitStateChange,
  type CircuitStateData,
  type CircuitStateStore,
  createInitialState,
  InvalidCircuitNameError,
  InvalidStateDataError,
  type OverrideRequest,
  reduceOutcomes,
  resolvePolicy,
} from '@xnai/cb-core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

export interface StoreContractOptions {
  /** Creates a fresh, empty store. Called before each test. */
  readonly create: () => Promise<CircuitStateStore> | CircuitStateStore;
  /** Called after each test with the store `create` returned (after `store.close()`). */
  readonly destroy?: (store: CircuitStateStore) => Promise<void> | void;
  /**
   * How long a pushed change may take to reach a subscriber. Memory stores deliver synchronously;
   * a Redis store through pub/sub.
   * @default 1000
   */
  readonly deliveryTimeoutMs?: number;
  /** Creates a fresh, empty store whose states live `ttlMs`; the TTL cases run when given. */
  readonly createWithTtl?: (ttlMs: number) => Promise<CircuitStateStore> | CircuitStateStore;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function eventually(check: () => void, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(5);
    }
  }
}

const FAIL: CallOutcome = { kind: 'failure' };
const OK: CallOutcome = { kind: 'success' };

/**
 * The semantics every {@link CircuitStateStore} must have. Each store package runs it against a
 * real backend: `describeStoreContract('MemoryStateStore', { create: () => new MemoryStateStore() })`.
 * Time is real and short (tens of milliseconds), so the suite also runs against stores that take
 * time from their backend (Redis `TIME`).
 */
export function describeStoreContract(label: string, options: StoreContractOptions): void {
  const deliveryTimeoutMs = options.deliveryTimeoutMs ?? 1_000;

  describe(`CircuitStateStore contract: ${label}`, () => {
    let store: CircuitStateStore;
    let counter = 0;
    let name: string;

    beforeEach(async () => {
      store = await options.create();
      counter += 1;
      name = `contract-${process.pid}-${Date.now()}-${counter}`;
    });

    afterEach(async () => {
      await store.close();
      await options.destroy?.(store);
    });

    it('declares specification v1', () => {
      expect(store.specificationVersion).toBe('v1');
      expect(typeof store.local).toBe('boolean');
    });

    it('returns undefined for a circuit it never stored', async () => {
      expect(await store.getState(name)).toBeUndefined();
      expect((await store.getAllStates()).has(name)).toBe(false);
    });

    it('stores, lists and deletes state (the seed operations), setState taking effect above the stored version', async () => {
      const data: CircuitStateData = {
        ...createInitialState(1_700_000_000_000),
        failureCount: 2,
        successCount: 5,
        lastFailureTime: 1_700_000_000_100,
        lastSuccessTime: 1_700_000_000_200,
        version: 7,
      };
      const before = await store.record(name, [FAIL], resolvePolicy());
      const changes: CircuitStateChange[] = [];
      const subscription = store.subscribe((change) => changes.push(change), { name });
      const startedAt = Date.now();
      expect(await store.setState(name, data)).toBe(true);
      const stored = await store.getState(name);
      // As given, except what makes it take effect: a version above the stored one (views take it)
      // and a decision (a stale instance cannot undo it).
      expect(stored).toEqual({ ...data, version: stored?.version, decidedAt: stored?.decidedAt });
      expect(stored?.version).toBeGreaterThan(before.version);
      expect(stored?.decidedAt).toBeGreaterThanOrEqual(startedAt - 1_000);
      expect((await store.getAllStates()).get(name)).toEqual(stored);
      // Pushed even though the status stayed closed: every instance takes a setState.
      await eventually(
        () => expect(changes.map((c) => c.version)).toContain(stored?.version),
        deliveryTimeoutMs,
      );
      expect(await store.deleteState(name)).toBe(true);
      await eventually(() => expect(changes.at(-1)?.state).toBeNull(), deliveryTimeoutMs);
      // A deletion's version is above the state's, so views take it and ignore older pushes.
      const deletion = changes.at(-1)?.version ?? 0;
      expect(deletion).toBeGreaterThan(stored?.version ?? 0);
      expect(await store.getState(name)).toBeUndefined();
      expect((await store.getAllStates()).has(name)).toBe(false);
      expect(await store.deleteState(name)).toBe(false);
      // A circuit written again after its deletion continues above the deletion's version.
      const again = await store.record(name, [FAIL], resolvePolicy());
      expect(again.version).toBeGreaterThan(deletion);
      subscription.dispose();
    });

    it('never writes on a read: admitting on a circuit never written leaves nothing stored', async () => {
      const policy = resolvePolicy();
      await store.acquire(name, policy, { leaseId: 'probe-1' });
      expect(await store.getState(name)).toBeUndefined();
      expect(await store.getState(name)).toBeUndefined();
      expect((await store.getAllStates()).has(name)).toBe(false);
    });

    it('pushes a consecutive-failure count leaving and returning to zero, and no other count change', async () => {
      const policy = resolvePolicy({ failureThreshold: 10 });
      const changes: CircuitStateChange[] = [];
      const subscription = store.subscribe((change) => changes.push(change), { name });
      await store.record(name, [FAIL], policy);
      await eventually(() => expect(changes).toHaveLength(1), deliveryTimeoutMs);
      expect(changes[0]).toMatchObject({ transition: null, state: { failureCount: 1 } });
      await store.record(name, [FAIL], policy);
      await store.record(name, [OK], policy);
      await eventually(() => expect(changes).toHaveLength(2), deliveryTimeoutMs);
      expect(changes[1]).toMatchObject({ transition: null, state: { failureCount: 0 } });
      await store.record(name, [OK], policy);
      await sleep(Math.min(deliveryTimeoutMs, 100));
      expect(changes).toHaveLength(2);
      subscription.dispose();
    });

    it('resolves an override duration on its own clock', async () => {
      const policy = resolvePolicy();
      const data = await store.override(
        name,
        { mode: 'forced_open', durationMs: 60_000, reason: 'deploy' },
        policy,
      );
      expect(data.override).toMatchObject({ mode: 'forced_open', reason: 'deploy' });
      expect((data.override?.expiresAt ?? 0) - (data.override?.setAt ?? 0)).toBe(60_000);
    });

    it('rejects malformed state data and override requests before writing, naming the field', async () => {
      const policy = resolvePolicy();
      const before = await store.record(name, [FAIL], policy);
      const base = createInitialState(1_700_000_000_000);
      const badStates: Array<[unknown, RegExp]> = [
        [{ ...base, lastStateChange: 1_700_000_000_000.5 }, /lastStateChange/],
        [{ ...base, openUntil: 1e16 }, /openUntil/],
        [
          { ...base, override: { mode: 'forced_open', reason: null, expiresAt: Number.NaN, setAt: 1 } },
          /override.expiresAt/,
        ],
        [{ ...base, override: { mode: 'ajar', reason: null, expiresAt: null, setAt: 1 } }, /override mode/],
        [{ ...base, probes: [{ id: 'a;b', round: 1, expiresAt: 5 }] }, /probes/],
      ];
      for (const [data, field] of badStates) {
        const attempt = store.setState(name, data as CircuitStateData);
        await expect(attempt).rejects.toBeInstanceOf(InvalidStateDataError);
        await expect(store.setState(name, data as CircuitStateData)).rejects.toThrow(field);
      }
      const badOverrides: Array<[unknown, ErrorConstructor, RegExp]> = [
        [{ mode: 'ajar' }, TypeError, /override.mode/],
        [{ mode: 'forced_open', durationMs: Number.NaN }, RangeError, /override.durationMs/],
        [{ mode: 'forced_open', expiresAt: 1.5 }, RangeError, /override.expiresAt/],
        [{ mode: 'forced_open', reason: 7 }, TypeError, /override.reason/],
      ];
      for (const [request, type, field] of badOverrides) {
        const attempt = store.override(name, request as OverrideRequest, policy);
        await expect(attempt).rejects.toBeInstanceOf(type);
        await expect(store.override(name, request as OverrideRequest, policy)).rejects.toThrow(field);
      }
      expect(await store.getState(name)).toEqual(before);
    });

    it('rejects invalid state data with a typed error and keeps what it had', async () => {
      const policy = resolvePolicy();
      await store.record(name, [FAIL], policy);
      const before = await store.getState(name);
      const bad = { ...createInitialState(0), state: 'exploded' } as unknown as CircuitStateData;
      await expect(store.setState(name, bad)).rejects.toBeInstanceOf(InvalidStateDataError);
      const negative = { ...createInitialState(0), failureCount: -1 };
      await expect(store.setState(name, negative)).rejects.toBeInstanceOf(InvalidStateDataError);
      expect(await store.getState(name)).toEqual(before);
    });

    it('rejects invalid circuit names with InvalidCircuitNameError on every operation', async () => {
      const policy = resolvePolicy();
      for (const bad of ['', 'a\u0000b', 'line\nbreak', 'x'.repeat(257), 'lone\ud800', 'lone\udfff']) {
        await expect(store.getState(bad)).rejects.toBeInstanceOf(InvalidCircuitNameError);
        await expect(store.setState(bad, createInitialState(0))).rejects.toBeInstanceOf(
          InvalidCircuitNameError,
        );
        await expect(store.deleteState(bad)).rejects.toBeInstanceOf(InvalidCircuitNameError);
        await expect(store.record(bad, [FAIL], policy)).rejects.toBeInstanceOf(InvalidCircuitNameError);
        await expect(store.acquire(bad, policy, { leaseId: 'l' })).rejects.toBeInstanceOf(
          InvalidCircuitNameError,
        );
      }
    });

    it('admits calls on a closed circuit without writing', async () => {
      const policy = resolvePolicy();
      const result = await store.acquire(name, policy, { leaseId: 'a' });
      expect(result.admission).toEqual({ allowed: true, probe: null });
      expect(result.state.state).toBe('closed');
      expect(await store.getState(name)).toBeUndefined();
    });

    it('counts consecutive failures, resets them on success, and bumps the version on each write', async () => {
      const policy = resolvePolicy({ failureThreshold: 5 });
      const startedAt = Date.now();
      let data = await store.record(name, [FAIL, FAIL], policy);
      expect(data).toMatchObject({ state: 'closed', failureCount: 2, successCount: 0 });
      // Versions follow time (epoch ms x 1000) so they keep growing even if a key is lost.
      expect(data.version).toBeGreaterThanOrEqual((startedAt - 1_000) * 1_000);
      const first = data.version;
      data = await store.record(name, [OK], policy);
      expect(data).toMatchObject({ state: 'closed', failureCount: 0, successCount: 1 });
      expect(data.version).toBeGreaterThan(first);
      expect(data.lastSuccessTime).toBeGreaterThan(0);
      const second = data.version;
      data = await store.record(name, [FAIL], policy);
      expect(data).toMatchObject({ failureCount: 1, successCount: 0 });
      expect(data.version).toBeGreaterThan(second);
      expect(data.lastFailureTime).toBeGreaterThanOrEqual(data.lastSuccessTime);
    });

    it('opens at the failure threshold, announces it once, and rejects until the open period ends', async () => {
      const policy = resolvePolicy({ failureThreshold: 3, openTimeoutMs: 10_000 });
      const changes: CircuitStateChange[] = [];
      const subscription = store.subscribe((change) => changes.push(change), { name });
      // One record is one batch, judged once: all five failures count, and the circuit opens once.
      const data = await store.record(name, [FAIL, FAIL, FAIL, FAIL, FAIL], policy);
      expect(data.state).toBe('open');
      expect(data.failureCount).toBe(5);
      expect(data.consecutiveOpens).toBe(1);
      expect(data.openUntil - data.lastStateChange).toBe(10_000);
      await eventually(() => expect(changes).toHaveLength(1), deliveryTimeoutMs);
      expect(changes[0]).toMatchObject({
        name,
        version: data.version,
        transition: { from: 'closed', to: 'open', reason: 'failure_threshold' },
      });
      const result = await store.acquire(name, policy, { leaseId: 'x' });
      expect(result.admission).toEqual({ allowed: false, reason: 'open', retryAt: data.openUntil });
      // Outcomes of calls admitted before the circuit opened are ignored.
      const after = await store.record(name, [FAIL, OK], policy);
      expect(after).toEqual(data);
      subscription.dispose();
    });

    it('moves to half-open after the open period, leases probes fleet-wide and closes on successThreshold', async () => {
      const policy = resolvePolicy({
        failureThreshold: 1,
        openTimeoutMs: 40,
        successThreshold: 2,
        halfOpenMaxCalls: 1,
      });
      await store.record(name, [FAIL], policy);
      await sleep(60);
      const first = await store.acquire(name, policy, { leaseId: 'p1' });
      expect(first.state.state).toBe('half_open');
      expect(first.admission).toEqual({ allowed: true, probe: { id: 'p1', round: 1 } });
      const second = await store.acquire(name, policy, { leaseId: 'p2' });
      expect(second.admission).toMatchObject({ allowed: false, reason: 'half_open_full' });
      const retried = await store.acquire(name, policy, { leaseId: 'p1' });
      expect(retried.admission).toEqual({ allowed: true, probe: { id: 'p1', round: 1 } });
      expect(retried.state.probes).toHaveLength(1);

      let data = await store.record(name, [{ kind: 'success', probe: { id: 'p1', round: 1 } }], policy);
      expect(data).toMatchObject({ state: 'half_open', successCount: 1, probes: [] });
      const next = await store.acquire(name, policy, { leaseId: 'p3' });
      expect(next.admission).toEqual({ allowed: true, probe: { id: 'p3', round: 1 } });
      data = await store.record(name, [{ kind: 'success', probe: { id: 'p3', round: 1 } }], policy);
      expect(data).toMatchObject({ state: 'closed', failureCount: 0, consecutiveOpens: 0, openUntil: 0 });
    });

    it('pushes every probe lease taken or given back, so that other instances need not ask', async () => {
      const policy = resolvePolicy({
        failureThreshold: 1,
        openTimeoutMs: 40,
        successThreshold: 3,
        halfOpenMaxCalls: 1,
      });
      await store.record(name, [FAIL], policy);
      await sleep(60);
      const changes: CircuitStateChange[] = [];
      const subscription = store.subscribe((change) => changes.push(change), { name });
      await store.acquire(name, policy, { leaseId: 'p1' });
      await eventually(() => expect(changes).toHaveLength(1), deliveryTimeoutMs);
      expect(changes[0]).toMatchObject({ state: { state: 'half_open', probes: [{ id: 'p1' }] } });
      // A refused request changes nothing and pushes nothing.
      await store.acquire(name, policy, { leaseId: 'p2' });
      await store.record(name, [{ kind: 'success', probe: { id: 'p1', round: 1 } }], policy);
      await eventually(() => expect(changes).toHaveLength(2), deliveryTimeoutMs);
      expect(changes[1]).toMatchObject({ transition: null, state: { successCount: 1, probes: [] } });
      await store.acquire(name, policy, { leaseId: 'p3' });
      await store.record(name, [{ kind: 'ignored', probe: { id: 'p3', round: 1 } }], policy);
      await eventually(() => expect(changes).toHaveLength(4), deliveryTimeoutMs);
      expect(changes[3]).toMatchObject({ transition: null, state: { successCount: 1, probes: [] } });
      await sleep(Math.min(deliveryTimeoutMs, 100));
      expect(changes).toHaveLength(4);
      subscription.dispose();
    });

    it('reopens on a probe failure with a longer open period, and ignores outcomes of an ended round', async () => {
      const policy = resolvePolicy({
        failureThreshold: 1,
        openTimeoutMs: 30,
        maxOpenTimeoutMs: 100,
        backoffMultiplier: 2,
        halfOpenMaxCalls: 2,
      });
      await store.record(name, [FAIL], policy);
      await sleep(45);
      const a = await store.acquire(name, policy, { leaseId: 'a' });
      const b = await store.acquire(name, policy, { leaseId: 'b' });
      expect(a.admission.allowed && b.admission.allowed).toBe(true);
      const probeA = a.admission.allowed ? a.admission.probe : null;
      const probeB = b.admission.allowed ? b.admission.probe : null;
      const reopened = await store.record(name, [{ kind: 'failure', probe: probeA }], policy);
      expect(reopened).toMatchObject({ state: 'open', consecutiveOpens: 2, probes: [] });
      expect(reopened.openUntil - reopened.lastStateChange).toBe(60);
      // B's lease belonged to the ended round: its success changes nothing.
      const late = await store.record(name, [{ kind: 'success', probe: probeB }], policy);
      expect(late).toEqual(reopened);
      await sleep(80);
      const c = await store.acquire(name, policy, { leaseId: 'c' });
      expect(c.admission).toEqual({ allowed: true, probe: { id: 'c', round: 2 } });
      const third = await store.record(name, [{ kind: 'failure', probe: { id: 'c', round: 2 } }], policy);
      expect(third.openUntil - third.lastStateChange).toBe(100);
    });

    it('frees a probe slot whose lease lapsed, and ignores the lapsed probe outcome', async () => {
      const policy = resolvePolicy({ failureThreshold: 1, openTimeoutMs: 20, probeLeaseMs: 40 });
      await store.record(name, [FAIL], policy);
      await sleep(30);
      const hung = await store.acquire(name, policy, { leaseId: 'hung' });
      expect(hung.admission).toMatchObject({ allowed: true });
      expect((await store.acquire(name, policy, { leaseId: 'other' })).admission.allowed).toBe(false);
      await sleep(60);
      const next = await store.acquire(name, policy, { leaseId: 'other' });
      expect(next.admission).toEqual({ allowed: true, probe: { id: 'other', round: 1 } });
      const lapsed = await store.record(name, [{ kind: 'success', probe: { id: 'hung', round: 1 } }], policy);
      expect(lapsed).toMatchObject({ state: 'half_open', successCount: 0 });
    });

    it('releases a probe lease on an ignored outcome without counting it', async () => {
      const policy = resolvePolicy({ failureThreshold: 1, openTimeoutMs: 20 });
      await store.record(name, [FAIL], policy);
      await sleep(30);
      const probe = await store.acquire(name, policy, { leaseId: 'aborted' });
      const ticket = probe.admission.allowed ? probe.admission.probe : null;
      const data = await store.record(name, [{ kind: 'ignored', probe: ticket }], policy);
      expect(data).toMatchObject({ state: 'half_open', successCount: 0, probes: [] });
      expect((await store.acquire(name, policy, { leaseId: 'next' })).admission.allowed).toBe(true);
    });

    it('holds manual overrides until cleared or expired', async () => {
      const policy = resolvePolicy();
      const changes: CircuitStateChange[] = [];
      const subscription = store.subscribe((change) => changes.push(change));
      let data = await store.override(name, { mode: 'forced_open', reason: 'maintenance' }, policy);
      expect(data.override).toMatchObject({ mode: 'forced_open', reason: 'maintenance', expiresAt: null });
      expect((await store.acquire(name, policy, { leaseId: 'x' })).admission).toEqual({
        allowed: false,
        reason: 'forced_open',
        retryAt: null,
      });
      // Outcomes do not count while an override holds.
      expect(await store.record(name, [FAIL, FAIL, FAIL, FAIL, FAIL, FAIL], policy)).toEqual(data);
      data = await store.override(name, { mode: 'forced_closed', reason: null }, policy);
      expect((await store.acquire(name, policy, { leaseId: 'y' })).admission).toEqual({
        allowed: true,
        probe: null,
      });
      data = await store.override(name, null, policy);
      expect(data.override).toBeNull();
      await eventually(
        () => expect(changes.filter((c) => c.name === name)).toHaveLength(3),
        deliveryTimeoutMs,
      );
      expect(changes.filter((c) => c.name === name).map((c) => c.transition?.reason)).toEqual([
        'forced_open',
        'forced_closed',
        'override_cleared',
      ]);
      subscription.dispose();

      const expiring = await store.override(
        name,
        { mode: 'forced_open', expiresAt: Date.now() + 30 },
        policy,
      );
      expect(expiring.override?.expiresAt).not.toBeNull();
      await sleep(50);
      expect((await store.acquire(name, policy, { leaseId: 'z' })).admission.allowed).toBe(true);
    });

    it('pushes every decision, also one that leaves the status as it was (a renewed override, a reset of a fresh circuit)', async () => {
      const policy = resolvePolicy();
      const changes: CircuitStateChange[] = [];
      const subscription = store.subscribe((change) => changes.push(change), { name });
      await store.override(name, { mode: 'forced_closed', durationMs: 60_000 }, policy);
      await eventually(() => expect(changes).toHaveLength(1), deliveryTimeoutMs);
      // Forced closed again, for longer: the status stays forced_closed, the expiry others hold moves.
      const renewed = await store.override(name, { mode: 'forced_closed', durationMs: 120_000 }, policy);
      await eventually(() => expect(changes).toHaveLength(2), deliveryTimeoutMs);
      expect(changes[1]).toMatchObject({ version: renewed.version, transition: null });
      expect(changes[1]?.state?.override?.expiresAt).toBe(renewed.override?.expiresAt);
      await store.override(name, null, policy);
      await eventually(() => expect(changes).toHaveLength(3), deliveryTimeoutMs);
      // A reset of a circuit that is closed and counted nothing is still a decision.
      const reset = await store.reset(name, policy);
      await eventually(() => expect(changes).toHaveLength(4), deliveryTimeoutMs);
      expect(changes[3]).toMatchObject({ version: reset.version, transition: null });
      subscription.dispose();
    });

    it('resets an open circuit to closed with counters and backoff cleared', async () => {
      const policy = resolvePolicy({ failureThreshold: 1 });
      await store.record(name, [FAIL], policy);
      await store.override(name, { mode: 'forced_open' }, policy);
      const data = await store.reset(name, policy);
      expect(data).toMatchObject({
        state: 'closed',
        failureCount: 0,
        consecutiveOpens: 0,
        openUntil: 0,
        override: null,
        probes: [],
      });
    });

    it('trips on the failure rate of a count-based sliding window', async () => {
      const policy = resolvePolicy({
        failureThreshold: 100,
        slidingWindow: { type: 'count', size: 10 },
        minimumCalls: 4,
        failureRateThreshold: 0.5,
      });
      let data = await store.record(name, [OK, FAIL, OK], policy);
      expect(data.window).toEqual({ kind: 'count', outcomes: 'sfs' });
      data = await store.record(name, [FAIL], policy);
      expect(data).toMatchObject({ state: 'open' });
      expect(data.window).toEqual({ kind: 'count', outcomes: '' });
    });

    it('applies a reduced batch exactly as the list of outcomes it stands for', async () => {
      const policy = resolvePolicy({
        failureThreshold: 4,
        slidingWindow: { type: 'count', size: 5 },
        minimumCalls: 5,
        failureRateThreshold: 0.8,
      });
      const outcomes = [FAIL, OK, FAIL, FAIL, OK, OK, FAIL, { kind: 'ignored' } as const, FAIL];
      const batch = reduceOutcomes(outcomes, policy).batch;
      expect(batch).toEqual({
        calls: 8,
        failures: 5,
        slowCalls: 0,
        trailingFailures: 2,
        trailingSuccesses: 0,
        recent: 'fssff',
      });
      const fromList = await store.record(name, outcomes, policy);
      const fromBatch = await store.record(`${name}-batch`, batch, policy);
      const comparable = (data: CircuitStateData) => ({
        ...data,
        version: 0,
        lastFailureTime: 0,
        lastSuccessTime: 0,
      });
      expect(comparable(fromBatch)).toEqual({
        ...comparable(fromList),
        lastStateChange: fromBatch.lastStateChange,
      });
      expect(fromList).toMatchObject({
        state: 'closed',
        failureCount: 2,
        window: { kind: 'count', outcomes: 'fssff' },
      });
    });

    it('applies a batch of a million calls in one record, bounded by the window', async () => {
      const policy = resolvePolicy({
        failureThreshold: 1_000_000,
        slidingWindow: { type: 'time', durationMs: 60_000 },
        failureRateThreshold: 0.5,
      });
      const batch = {
        calls: 1_000_000,
        failures: 10_000,
        slowCalls: 0,
        trailingFailures: 0,
        trailingSuccesses: 7,
        recent: '',
      };
      const data = await store.record(name, batch, policy);
      expect(data).toMatchObject({ state: 'closed', failureCount: 0, successCount: 7 });
      expect(
        data.window.kind === 'time' ? data.window.buckets.map((b) => [b.calls, b.failures]) : null,
      ).toEqual([[1_000_000, 10_000]]);
    });

    it('rejects malformed outcomes, batches and jitter with a TypeError or RangeError, writing nothing', async () => {
      const policy = resolvePolicy({
        failureThreshold: 2,
        slidingWindow: { type: 'count', size: 3 },
        minimumCalls: 3,
      });
      const before = await store.record(name, [FAIL], policy);
      const bad: unknown[] = [
        [{ kind: 'broken' }],
        [{ kind: 'failure', slow: 'yes' }],
        [{ kind: 'failure', probe: { id: 7, round: 1 } }],
        { calls: 2, failures: 3, slowCalls: 0, trailingFailures: 2, trailingSuccesses: 0, recent: 'ff' },
        { calls: 2, failures: 2, slowCalls: 0, trailingFailures: 2, trailingSuccesses: 0, recent: 'f' },
        { calls: 2, failures: 2, slowCalls: 0, trailingFailures: 2, trailingSuccesses: 0, recent: 'fx' },
        {
          calls: Number.NaN,
          failures: 0,
          slowCalls: 0,
          trailingFailures: 0,
          trailingSuccesses: 0,
          recent: '',
        },
        { calls: 1, failures: 1, slowCalls: 0, trailingFailures: 0, trailingSuccesses: 0, recent: 'f' },
        'ff',
      ];
      for (const outcomes of bad) {
        await expect(store.record(name, outcomes as CallOutcome[], policy)).rejects.toThrow(TypeError);
      }
      for (const jitter of [Number.NaN, -1, 1.5, 1_000_000]) {
        await expect(store.record(name, [FAIL], policy, jitter)).rejects.toThrow(RangeError);
      }
      await expect(store.record(name, [FAIL], policy, Number.NaN)).rejects.toThrow(/jitter/);
      expect(await store.getState(name)).toEqual(before);
    });

    it('does not lose updates under concurrent writers', async () => {
      const policy = resolvePolicy({ failureThreshold: 10_000 });
      await Promise.all(Array.from({ length: 200 }, () => store.record(name, [FAIL], policy)));
      const versions = new Set<number>();
      const results = await Promise.all(Array.from({ length: 50 }, () => store.record(name, [FAIL], policy)));
      for (const result of results) versions.add(result.version);
      const data = await store.getState(name);
      expect(data?.failureCount).toBe(250);
      // Every write got its own version.
      expect(versions.size).toBe(50);
    });

    it('filters subscriptions by name and stops delivering once disposed', async () => {
      const policy = resolvePolicy({ failureThreshold: 1 });
      const mine: CircuitStateChange[] = [];
      const all: CircuitStateChange[] = [];
      const subscription = store.subscribe((change) => mine.push(change), { name });
      const everything = store.subscribe((change) => all.push(change));
      await store.record(`${name}-other`, [FAIL], policy);
      await store.record(name, [FAIL], policy);
      await eventually(
        () => expect(all.map((c) => c.name)).toEqual([`${name}-other`, name]),
        deliveryTimeoutMs,
      );
      expect(mine.map((c) => c.name)).toEqual([name]);
      subscription.dispose();
      subscription.dispose();
      await store.reset(name, policy);
      await eventually(() => expect(all).toHaveLength(3), deliveryTimeoutMs);
      expect(mine).toHaveLength(1);
      everything.dispose();
    });

    it('watches a circuit for a receiver as a subscription by name would, until unwatched (when it can watch)', async () => {
      // Both or neither: a breaker watches only a store that can also stop.
      expect(typeof store.watch).toBe(typeof store.unwatch);
      if (store.watch === undefined || store.unwatch === undefined) return;
      const policy = resolvePolicy({ failureThreshold: 1 });
      const seen: CircuitStateChange[] = [];
      const others: CircuitStateChange[] = [];
      const receiver = { receiveChange: (change: CircuitStateChange) => seen.push(change) };
      const other = { receiveChange: (change: CircuitStateChange) => others.push(change) };
      const subscribed: CircuitStateChange[] = [];
      store.watch(name, receiver);
      store.watch(`${name}-other`, other);
      const subscription = store.subscribe((change) => subscribed.push(change), { name });
      await store.record(`${name}-other`, [FAIL], policy);
      await store.record(name, [FAIL], policy);
      await eventually(() => expect(subscribed).toHaveLength(1), deliveryTimeoutMs);
      await eventually(() => expect(others).toHaveLength(1), deliveryTimeoutMs);
      expect(seen).toEqual(subscribed);
      expect(seen[0]).toMatchObject({ name, state: { state: 'open' } });
      store.unwatch(name, receiver);
      store.unwatch(name, receiver);
      store.unwatch(name, { receiveChange: () => undefined });
      await store.reset(name, policy);
      await eventually(() => expect(subscribed).toHaveLength(2), deliveryTimeoutMs);
      expect(seen).toHaveLength(1);
      subscription.dispose();
      store.unwatch(`${name}-other`, other);
      expect(() => store.watch?.('', receiver)).toThrow(InvalidCircuitNameError);
    });

    it('closes idempotently', async () => {
      await store.close();
      await store.close();
    });

    const createWithTtl = options.createWithTtl;
    if (createWithTtl !== undefined) {
      it('forgets a closed circuit ttlMs after its last write, however often it is read', async () => {
        const short = await createWithTtl(300);
        try {
          await short.record(name, [FAIL], resolvePolicy());
          const deadline = Date.now() + 5_000;
          let gone = false;
          while (!gone && Date.now() < deadline) {
            // Reads never extend a circuit's life.
            gone = (await short.getState(name)) === undefined;
            await sleep(25);
          }
          expect(gone).toBe(true);
        } finally {
          await short.close();
        }
      });

      it('never forgets a circuit while an override or an open period is in force', async () => {
        const short = await createWithTtl(150);
        try {
          const policy = resolvePolicy({ failureThreshold: 1, openTimeoutMs: 5_000 });
          await short.override(`${name}-forced`, { mode: 'forced_open' }, policy);
          await short.override(`${name}-until`, { mode: 'forced_closed', durationMs: 5_000 }, policy);
          await short.record(`${name}-open`, [FAIL], policy);
          await sleep(600);
          expect((await short.getState(`${name}-forced`))?.override?.mode).toBe('forced_open');
          expect((await short.getState(`${name}-until`))?.override?.mode).toBe('forced_closed');
          expect((await short.getState(`${name}-open`))?.state).toBe('open');
        } finally {
          await short.close();
        }
      });
    }
  });
}
