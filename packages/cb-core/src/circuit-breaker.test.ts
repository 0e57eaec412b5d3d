import { getEventListeners } from 'node:events';
import { captureMicrotaskErrors } from '@xnai/kit/testing';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ScriptedStore } from './__tests__/scripted-store.js';
import { CallGroup } from './call-runner.js';
import {
  CircuitBreaker,
  type CircuitBreakerOptions,
  createCircuitBreaker,
  type StateChangeEvent,
} from './circuit-breaker.js';
import { createInitialState } from './circuit-state.js';
import { CallTimeoutError } from './errors/call-timeout-error.js';
import { CircuitOpenError } from './errors/circuit-open-error.js';
import { ClosedError } from './errors/closed-error.js';
import { InvalidCircuitNameError } from './errors/invalid-circuit-name-error.js';
import { StoreUnavailableError } from './errors/store-unavailable-error.js';

const T0 = Date.UTC(2026, 10, 27, 12);
const boom = (): Promise<never> => Promise.reject(new Error('boom'));
const ok = (): Promise<string> => Promise.resolve('ok');

async function failTimes<T>(breaker: CircuitBreaker<T>, times: number): Promise<void> {
  for (let i = 0; i < times; i++) await expect(breaker.execute(boom)).rejects.toThrow('boom');
}

/** Lets pending promise callbacks (store writes that resolve at once) run. */
const settle = async (): Promise<void> => {
  await vi.advanceTimersByTimeAsync(0);
};

describe('CircuitBreaker', () => {
  let store: ScriptedStore;
  let breakers: CircuitBreaker<unknown>[];

  const make = <T = never>(options: Partial<CircuitBreakerOptions<T>> = {}): CircuitBreaker<T> => {
    const breaker = new CircuitBreaker<T>({ name: 'payments', store, ...options });
    breakers.push(breaker as CircuitBreaker<unknown>);
    return breaker;
  };

  beforeEach(() => {
    vi.useFakeTimers({ now: T0 });
    store = new ScriptedStore();
    breakers = [];
  });

  afterEach(async () => {
    for (const breaker of breakers) await breaker.close();
    vi.useRealTimers();
  });

  it('opens after five consecutive failures (seed default) and rejects locally with the retry time', async () => {
    const breaker = make();
    const events: StateChangeEvent[] = [];
    breaker.onStateChange((event) => events.push(event));
    await failTimes(breaker, 5);
    expect(breaker.status).toBe('open');
    store.operations.length = 0;
    const error = await breaker.execute(ok).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CircuitOpenError);
    expect(error).toMatchObject({
      code: 'CIRCUIT_OPEN',
      reason: 'open',
      retryAt: T0 + 60_000,
      circuit: 'payments',
    });
    expect(CircuitOpenError.isInstance(error)).toBe(true);
    // Rejection builds no stack trace.
    expect((error as Error).stack ?? '').not.toMatch(/\n\s+at /);
    expect(store.operations).toEqual([]);
    expect(events).toEqual([
      { name: 'payments', from: 'closed', to: 'open', reason: 'failure_threshold', at: T0 },
    ]);
  });

  it('runs a call on a closed circuit without touching the store, even a slow store', async () => {
    const breaker = make();
    await breaker.execute(ok);
    store.operations.length = 0;
    store.latencyMs = 10_000;
    await expect(breaker.execute(ok)).resolves.toBe('ok');
    // A failure is recorded in the background; the caller gets its error at once.
    await expect(breaker.execute(boom)).rejects.toThrow('boom');
    expect(store.operations).toEqual(['record']);
    expect(breaker.stateData.failureCount).toBe(1);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(store.states.get('payments')?.failureCount).toBe(1);
    // The next success has a failure count to reset, so it writes.
    await breaker.execute(ok);
    expect(store.operations.filter((op) => op === 'record')).toEqual(['record', 'record']);
    await vi.advanceTimersByTimeAsync(10_000);
  });

  it('loads the stored state before the first call', async () => {
    const other = make({ name: 'inventory', failureThreshold: 1 });
    await failTimes(other, 1);
    await settle();
    const fresh = make({ name: 'inventory' });
    await expect(fresh.execute(ok)).rejects.toBeInstanceOf(CircuitOpenError);
  });

  it('probes after the open period and closes after successThreshold successes', async () => {
    const breaker = make({ failureThreshold: 1, openTimeoutMs: 1_000 });
    const events: string[] = [];
    breaker.onStateChange((event) => events.push(`${event.from}>${event.to}:${event.reason}`));
    await failTimes(breaker, 1);
    await settle();
    vi.advanceTimersByTime(1_000);
    await expect(breaker.execute(ok)).resolves.toBe('ok');
    await settle();
    expect(breaker.status).toBe('half_open');
    await expect(breaker.execute(ok)).resolves.toBe('ok');
    await settle();
    expect(breaker.status).toBe('closed');
    expect(events).toEqual([
      'closed>open:failure_threshold',
      'open>half_open:open_timeout_elapsed',
      'half_open>closed:probe_success_threshold',
    ]);
  });

  it('tells the onStateChange option of every change, shared by breakers configured alike, until closed', async () => {
    const seen: string[] = [];
    const relay = (event: StateChangeEvent) =>
      seen.push(`${event.name}:${event.from}>${event.to}:${event.reason}`);
    const first = make({ name: 'a', failureThreshold: 1, openTimeoutMs: 1_000, onStateChange: relay });
    const second = make({ name: 'b', failureThreshold: 1, openTimeoutMs: 1_000, onStateChange: relay });
    const own: string[] = [];
    second.onStateChange((event) => own.push(`${event.from}>${event.to}`));
    await failTimes(first, 1);
    await failTimes(second, 1);
    await settle();
    expect(seen).toEqual(['a:closed>open:failure_threshold', 'b:closed>open:failure_threshold']);
    expect(own).toEqual(['closed>open']);
    await first.close();
    vi.advanceTimersByTime(1_000);
    for (let probe = 0; probe < 2; probe++) {
      await expect(second.execute(ok)).resolves.toBe('ok');
      await settle();
    }
    expect(seen.slice(2)).toEqual([
      'b:open>half_open:open_timeout_elapsed',
      'b:half_open>closed:probe_success_threshold',
    ]);
    // A relay that throws does not stop the breaker's own listeners; its error surfaces in a microtask.
    const thrower = make({
      name: 'c',
      failureThreshold: 1,
      onStateChange: () => {
        throw new Error('relay bug');
      },
    });
    const mine: string[] = [];
    thrower.onStateChange((event) => mine.push(event.to));
    const errors = await captureMicrotaskErrors(() => failTimes(thrower, 1));
    expect(mine).toEqual(['open']);
    expect(errors).toMatchObject([{ message: 'relay bug' }]);
    expect(() => make({ name: 'd', onStateChange: 'nope' as never })).toThrow(TypeError);
  });

  it('admits one probe at a time by default and rejects the rest while it runs', async () => {
    const breaker = make({ failureThreshold: 1, openTimeoutMs: 1_000 });
    await failTimes(breaker, 1);
    await settle();
    vi.advanceTimersByTime(1_000);
    let release: (value: string) => void = () => undefined;
    const probe = breaker.execute(() => new Promise<string>((resolve) => (release = resolve)));
    await settle();
    const rejected = await breaker.execute(ok).catch((e: unknown) => e);
    expect(rejected).toMatchObject({ reason: 'half_open_full' });
    release('done');
    await expect(probe).resolves.toBe('done');
  });

  it('reopens on a probe failure with twice the open period', async () => {
    const breaker = make({ failureThreshold: 1, openTimeoutMs: 1_000 });
    await failTimes(breaker, 1);
    await settle();
    vi.advanceTimersByTime(1_000);
    await failTimes(breaker, 1);
    await settle();
    expect(breaker.stateData).toMatchObject({
      state: 'open',
      consecutiveOpens: 2,
      openUntil: Date.now() + 2_000,
    });
  });

  it('times out a call that never settles, aborts its signal, counts a failure and frees the probe', async () => {
    const breaker = make({ failureThreshold: 1, openTimeoutMs: 1_000, callTimeoutMs: 500 });
    await failTimes(breaker, 1);
    await settle();
    vi.advanceTimersByTime(1_000);
    let signal: AbortSignal | undefined;
    const hung = breaker.execute((s) => {
      signal = s;
      return new Promise<never>(() => undefined);
    });
    const assertion = expect(hung).rejects.toBeInstanceOf(CallTimeoutError);
    await vi.advanceTimersByTimeAsync(500);
    await assertion;
    expect(signal?.aborted).toBe(true);
    expect(signal?.reason).toBeInstanceOf(CallTimeoutError);
    await settle();
    expect(store.states.get('payments')).toMatchObject({ state: 'open', probes: [], consecutiveOpens: 2 });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('treats a synchronous throw and a non-Error rejection as failures and rethrows them unchanged', async () => {
    const breaker = make({ failureThreshold: 2 });
    await expect(
      breaker.execute(() => {
        throw new TypeError('sync');
      }),
    ).rejects.toThrow('sync');
    await expect(breaker.execute(() => Promise.reject('plain string'))).rejects.toBe('plain string');
    expect(breaker.status).toBe('open');
  });

  it('handles a synchronous throw under a timeout without leaking the timer', async () => {
    const breaker = make({ callTimeoutMs: 100 });
    await expect(
      breaker.execute(() => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('classifies outcomes in three ways', async () => {
    const breaker = make({
      failureThreshold: 2,
      classifyError: (error) => ((error as Error).message === 'not found' ? 'ignored' : 'failure'),
      classifyResult: (value) => ((value as { status: number }).status >= 500 ? 'failure' : 'success'),
    });
    for (let i = 0; i < 5; i++)
      await expect(breaker.execute(() => Promise.reject(new Error('not found')))).rejects.toThrow();
    expect(breaker.status).toBe('closed');
    await expect(breaker.execute(() => ({ status: 503 }))).resolves.toEqual({ status: 503 });
    expect(breaker.stateData.failureCount).toBe(1);
    await breaker.execute(() => ({ status: 503 }));
    expect(breaker.status).toBe('open');
  });

  it('takes the same decisions on its hot path once loaded: values, thenables, throws, ignored errors', async () => {
    const breaker = make<string>({
      failureThreshold: 2,
      classifyError: (error) => ((error as Error).message === 'not found' ? 'ignored' : 'failure'),
      fallback: () => 'fallback',
    });
    await breaker.execute(ok);
    const thenable = {
      // biome-ignore lint/suspicious/noThenProperty: a non-promise thenable is exactly what is tested.
      then: (resolve: (value: string) => void) => resolve('from a thenable'),
    } as PromiseLike<string>;
    await expect(breaker.execute(() => thenable)).resolves.toBe('from a thenable');
    await expect(breaker.execute(() => 'plain value')).resolves.toBe('plain value');
    await expect(breaker.execute(() => Promise.reject(new Error('not found')))).rejects.toThrow('not found');
    expect(breaker.stateData.failureCount).toBe(0);
    await expect(
      breaker.execute(() => {
        throw new Error('sync failure');
      }),
    ).resolves.toBe('fallback');
    expect(breaker.stateData.failureCount).toBe(1);
    await expect(breaker.execute(boom)).resolves.toBe('fallback');
    expect(breaker.status).toBe('open');
    await expect(breaker.execute(ok)).resolves.toBe('fallback');
  });

  it('hands its breaker-wide signal to fn, counts none of the calls that settle after it aborted and refuses new ones', async () => {
    const shutdown = new AbortController();
    const ignored: unknown[] = [];
    const breaker = make({ failureThreshold: 1, openTimeoutMs: 1_000, signal: shutdown.signal });
    breaker.onIgnored((event) => ignored.push(event));
    await breaker.execute(ok);
    let received: AbortSignal | undefined;
    let failLater: (error: Error) => void = () => undefined;
    const inFlight = breaker.execute(
      (signal) =>
        new Promise<never>((_, reject) => {
          received = signal;
          failLater = reject;
        }),
    );
    expect(received).toBe(shutdown.signal);
    shutdown.abort(new Error('shutting down'));
    failLater(new Error('too late'));
    await expect(inFlight).rejects.toThrow('too late');
    await settle();
    expect(breaker.stateData.failureCount).toBe(0);
    expect(breaker.status).toBe('closed');
    expect(ignored).toEqual([expect.objectContaining({ aborted: true, error: shutdown.signal.reason })]);
    await expect(breaker.execute(ok)).rejects.toThrow('shutting down');
  });

  it('adds one abort listener per breaker-wide signal, however many breakers share it, and counts their calls in flight', async () => {
    const shutdown = new AbortController();
    const many = Array.from({ length: 50 }, (_, i) => make({ name: `shared-${i}`, signal: shutdown.signal }));
    expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(1);
    for (const breaker of many) await breaker.execute(ok);
    const group = CallGroup.of(shutdown.signal);
    const resolvers: Array<() => void> = [];
    const calls = many.map((breaker) =>
      breaker.execute(() => new Promise<string>((resolve) => resolvers.push(() => resolve('late')))),
    );
    expect(group.size).toBe(50);
    expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(1);
    let idle = false;
    void group.whenIdle().then(() => {
      idle = true;
    });
    shutdown.abort(new Error('all at once'));
    await settle();
    expect(idle).toBe(false);
    for (const resolve of resolvers) resolve();
    const results = await Promise.all(calls);
    expect(results.every((result) => result === 'late')).toBe(true);
    await settle();
    expect(idle).toBe(true);
    expect(group.size).toBe(0);
  });

  it('gives back the lease of a half-open probe that settles after the breaker-wide signal aborted', async () => {
    const shutdown = new AbortController();
    const breaker = make({ failureThreshold: 1, openTimeoutMs: 1_000, signal: shutdown.signal });
    await failTimes(breaker, 1);
    await settle();
    vi.advanceTimersByTime(1_000);
    const probe = breaker.execute(
      (signal) =>
        new Promise<never>((_, reject) => {
          signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        }),
    );
    await settle();
    expect(store.states.get('payments')?.probes).toHaveLength(1);
    shutdown.abort(new Error('shutting down'));
    await expect(probe).rejects.toThrow('shutting down');
    await settle();
    expect(store.states.get('payments')).toMatchObject({ state: 'half_open', probes: [], successCount: 0 });
  });

  it('with both signals and no timeout, hands fn the call signal and counts nothing once either aborted', async () => {
    const shutdown = new AbortController();
    const breaker = make({ failureThreshold: 1, signal: shutdown.signal });
    await breaker.execute(ok);
    const call = new AbortController();
    let received: AbortSignal | undefined;
    let failLater: (error: Error) => void = () => undefined;
    const pending = breaker.execute(
      (signal) =>
        new Promise<never>((_, reject) => {
          received = signal;
          failLater = reject;
        }),
      { signal: call.signal },
    );
    expect(received).toBe(call.signal);
    shutdown.abort(new Error('breaker-wide'));
    failLater(new Error('boom'));
    await expect(pending).rejects.toThrow('boom');
    await settle();
    expect(breaker.stateData.failureCount).toBe(0);
    await breaker.close();
  });

  it('counts a classifier that throws as a failure', async () => {
    const breaker = make({
      failureThreshold: 1,
      classifyResult: () => {
        throw new Error('classifier bug');
      },
    });
    await expect(breaker.execute(ok)).resolves.toBe('ok');
    expect(breaker.status).toBe('open');
  });

  it('serves the fallback on rejection and on failure, but not for ignored errors', async () => {
    const seen: unknown[] = [];
    const breaker = make<string>({
      failureThreshold: 1,
      classifyError: (error) => ((error as Error).message === 'ignore me' ? 'ignored' : 'failure'),
      fallback: (error) => {
        seen.push(error);
        return 'fallback';
      },
    });
    await expect(breaker.execute(() => Promise.reject(new Error('ignore me')))).rejects.toThrow('ignore me');
    await expect(breaker.execute(boom)).resolves.toBe('fallback');
    await expect(breaker.execute(ok)).resolves.toBe('fallback');
    expect(seen[0]).toMatchObject({ message: 'boom' });
    expect(seen[1]).toBeInstanceOf(CircuitOpenError);
  });

  it('counts nothing of a probe whose caller aborted: fn gets the call signal as it is, the lease is freed', async () => {
    const breaker = make({ failureThreshold: 1, openTimeoutMs: 1_000 });
    await failTimes(breaker, 1);
    await settle();
    vi.advanceTimersByTime(1_000);
    const controller = new AbortController();
    let inner: AbortSignal | undefined;
    const call = breaker.execute(
      (signal) => {
        inner = signal;
        return new Promise<never>((_, reject) => {
          signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        });
      },
      { signal: controller.signal },
    );
    await settle();
    expect(inner).toBe(controller.signal);
    controller.abort(new Error('user went away'));
    await expect(call).rejects.toThrow('user went away');
    await settle();
    expect(store.states.get('payments')).toMatchObject({ state: 'half_open', probes: [], successCount: 0 });
    await expect(breaker.execute(ok, { signal: AbortSignal.abort(new Error('already')) })).rejects.toThrow(
      'already',
    );
  });

  it('after the caller aborted, neither counts the outcome fn still produced nor hands it to the fallback', async () => {
    const fallbacks: unknown[] = [];
    const breaker = make<string>({
      failureThreshold: 1,
      fallback: (error) => {
        fallbacks.push(error);
        return 'fallback';
      },
    });
    await breaker.execute(ok);
    const failing = new AbortController();
    let failLater: (error: Error) => void = () => undefined;
    const failed = breaker.execute(
      () =>
        new Promise<never>((_, reject) => {
          failLater = reject;
        }),
      { signal: failing.signal },
    );
    failing.abort(new Error('client left'));
    failLater(new Error('upstream broke meanwhile'));
    await expect(failed).rejects.toThrow('upstream broke meanwhile');
    const succeeding = new AbortController();
    let succeedLater: (value: string) => void = () => undefined;
    const succeeded = breaker.execute(
      () =>
        new Promise<string>((resolve) => {
          succeedLater = resolve;
        }),
      { signal: succeeding.signal },
    );
    succeeding.abort(new Error('client left'));
    succeedLater('late');
    await expect(succeeded).resolves.toBe('late');
    await settle();
    expect(fallbacks).toEqual([]);
    expect(breaker.status).toBe('closed');
    expect(breaker.stateData.failureCount).toBe(0);
    expect(getEventListeners(failing.signal, 'abort')).toHaveLength(0);
  });

  it('passes a caller signal through on a normal call', async () => {
    const breaker = make();
    const controller = new AbortController();
    await expect(
      breaker.execute((signal) => Promise.resolve(signal.aborted), { signal: controller.signal }),
    ).resolves.toBe(false);
  });

  it('forces open and closed fleet-wide, clears and resets', async () => {
    const breaker = make({ failureThreshold: 1 });
    await breaker.forceOpen({ reason: 'maintenance', durationMs: 5_000 });
    expect(breaker.status).toBe('forced_open');
    await expect(breaker.execute(ok)).rejects.toMatchObject({ reason: 'forced_open', retryAt: T0 + 5_000 });
    await breaker.forceClosed({ reason: 'trust me' });
    await failTimes(breaker, 3);
    expect(breaker.status).toBe('forced_closed');
    expect(store.states.get('payments')?.failureCount).toBe(0);
    await breaker.clearOverride();
    expect(breaker.status).toBe('closed');
    await failTimes(breaker, 1);
    expect(breaker.status).toBe('open');
    await breaker.reset();
    expect(breaker.status).toBe('closed');
    await expect(breaker.forceOpen({ durationMs: 0 })).rejects.toThrow(
      'durationMs must be a positive integer, got 0',
    );
    await expect(breaker.forceOpen({ reason: 5 as never })).rejects.toThrow(TypeError);
    await expect(breaker.forceOpen({ until: 1 } as never)).rejects.toThrow('unknown option "until"');
  });

  it('lets a forced-open override lapse at its expiry', async () => {
    const breaker = make();
    await breaker.forceOpen({ durationMs: 1_000 });
    vi.advanceTimersByTime(1_000);
    await expect(breaker.execute(ok)).resolves.toBe('ok');
    await settle();
    expect(breaker.status).toBe('closed');
  });

  it('applies changes pushed by other instances without a store round trip', async () => {
    const breaker = make({ failureThreshold: 1 });
    await breaker.execute(ok);
    const events: StateChangeEvent[] = [];
    breaker.onStateChange((event) => events.push(event));
    store.operations.length = 0;
    store.applyNow(
      'payments',
      { type: 'record', outcomes: [{ kind: 'failure' }], jitter: 0 },
      breaker.policy,
    );
    expect(breaker.status).toBe('open');
    expect(events).toMatchObject([{ from: 'closed', to: 'open', reason: 'failure_threshold' }]);
    await expect(breaker.execute(ok)).rejects.toBeInstanceOf(CircuitOpenError);
    expect(store.operations).toEqual([]);
    // A deleted circuit starts over closed.
    await store.deleteState('payments');
    expect(breaker.status).toBe('closed');
  });

  it('ignores pushed data older than what it has seen', async () => {
    const breaker = make({ failureThreshold: 10 });
    await failTimes(breaker, 3);
    await settle();
    const stale = { ...breaker.stateData, version: 1, failureCount: 1 };
    store.states.set('payments', stale);
    await breaker.refresh();
    expect(breaker.stateData.failureCount).toBe(3);
  });

  it('does not let a read that raced with its own failures undo them', async () => {
    const breaker = make({ failureThreshold: 2 });
    await breaker.execute(ok);
    store.latencyMs = 100;
    // A slow refresh goes out while the store still has nothing; the failures are written before it returns.
    const refreshed = breaker.refresh();
    store.latencyMs = 0;
    await failTimes(breaker, 2);
    await settle();
    expect(store.states.get('payments')?.state).toBe('open');
    expect(breaker.status).toBe('open');
    await vi.advanceTimersByTimeAsync(100);
    await refreshed;
    expect(breaker.status).toBe('open');
    await expect(breaker.execute(ok)).rejects.toBeInstanceOf(CircuitOpenError);
  });

  it('reads the store once when refresh() is what loads it, twice when a load was already under way', async () => {
    store.states.set('payments', {
      ...createInitialState(T0),
      state: 'open',
      openUntil: T0 + 60_000,
      version: 7,
    });
    const first = make();
    expect(await first.refresh()).toMatchObject({ state: 'open', version: 7 });
    expect(store.operations.filter((op) => op === 'getState')).toEqual(['getState']);
    store.operations.length = 0;
    const second = new CircuitBreaker({ name: 'payments', store });
    const call = second.execute(ok).catch(() => undefined);
    await second.refresh();
    await call;
    expect(store.operations.filter((op) => op === 'getState')).toEqual(['getState', 'getState']);
  });

  it('refreshes its view from the store as a backstop after refreshIntervalMs', async () => {
    const breaker = make({ refreshIntervalMs: 1_000, failureThreshold: 1 });
    await breaker.execute(ok);
    // Another writer changed the store without an announcement reaching us.
    store.states.set('payments', {
      ...breaker.stateData,
      state: 'open',
      openUntil: Date.now() + 60_000,
      version: 5,
    });
    await breaker.execute(ok);
    expect(breaker.status).toBe('closed');
    vi.advanceTimersByTime(1_000);
    // The hot path looks at the clock once every 16 calls on a shared store.
    let calls = 0;
    while (breaker.status === 'closed' && calls < 16) {
      await breaker.execute(ok);
      await settle();
      calls++;
    }
    expect(breaker.status).toBe('open');
    expect(calls).toBeLessThanOrEqual(16);
    expect(store.operations.filter((op) => op === 'getState')).toHaveLength(2);
  });

  it('never re-reads a local store from the hot path: its changes arrive synchronously', async () => {
    store = new ScriptedStore({ local: true });
    const breaker = make({ refreshIntervalMs: 1_000 });
    await breaker.execute(ok);
    vi.advanceTimersByTime(10_000);
    for (let i = 0; i < 100; i++) await breaker.execute(ok);
    expect(store.operations.filter((op) => op === 'getState')).toHaveLength(1);
  });

  it('never re-reads per circuit a store that verifies its pushes, unless refreshIntervalMs is given', async () => {
    store = new ScriptedStore({ verifiesPushes: true });
    const other = new ScriptedStore({ verifiesPushes: true });
    const quiet = make();
    const asked = new CircuitBreaker({ name: 'payments', store: other, refreshIntervalMs: 5_000 });
    breakers.push(asked as CircuitBreaker<unknown>);
    for (const breaker of [quiet, asked]) await breaker.execute(ok);
    for (let second = 0; second < 60; second++) {
      vi.advanceTimersByTime(1_000);
      for (let i = 0; i < 20; i++) {
        await quiet.execute(ok);
        await asked.execute(ok);
      }
      await settle();
    }
    const reads = (of: ScriptedStore) => of.operations.filter((op) => op === 'getState').length;
    expect(reads(store)).toBe(1);
    expect(reads(other)).toBeGreaterThanOrEqual(12);
  });

  it('fails open when the store cannot admit a probe, and reports the error', async () => {
    const breaker = make({ failureThreshold: 1, openTimeoutMs: 1_000 });
    const errors: string[] = [];
    breaker.onStoreError((event) => errors.push(event.operation));
    await failTimes(breaker, 1);
    await settle();
    vi.advanceTimersByTime(1_000);
    store.failing = true;
    await expect(breaker.execute(ok)).resolves.toBe('ok');
    expect(errors).toContain('acquire');
  });

  it('fails closed with StoreUnavailableError when configured', async () => {
    const breaker = make({ failureThreshold: 1, openTimeoutMs: 1_000, onStoreFailure: 'fail-closed' });
    await failTimes(breaker, 1);
    await settle();
    vi.advanceTimersByTime(1_000);
    store.failing = true;
    const error = await breaker.execute(ok).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as Error).cause).toBeInstanceOf(StoreUnavailableError);
  });

  it('absorbs store failures while recording and loading: callers are unaffected', async () => {
    store.failing = true;
    const breaker = make({ failureThreshold: 2 });
    const errors: string[] = [];
    breaker.onStoreError((event) => errors.push(event.operation));
    await expect(breaker.execute(ok)).resolves.toBe('ok');
    await failTimes(breaker, 2);
    await settle();
    expect(breaker.status).toBe('open');
    expect(errors).toEqual(['load', 'record', 'record']);
    store.failing = false;
    expect(await breaker.refresh()).toMatchObject({ state: 'closed' });
  });

  it('reports a failed first load and goes on with a closed view', async () => {
    store.failing = true;
    const breaker = make();
    const errors: string[] = [];
    breaker.onStoreError((event) => errors.push(event.operation));
    await expect(breaker.execute(ok)).resolves.toBe('ok');
    expect(errors).toEqual(['load']);
  });

  it('batches sliding-window outcomes for a shared store and flushes at once on a trip', async () => {
    const breaker = make({
      failureThreshold: 100,
      slidingWindow: { type: 'count', size: 20 },
      minimumCalls: 10,
      failureRateThreshold: 0.5,
      recordIntervalMs: 1_000,
    });
    for (let i = 0; i < 8; i++) await breaker.execute(ok);
    expect(store.operations.filter((op) => op === 'record')).toEqual([]);
    expect(vi.getTimerCount()).toBe(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(store.operations.filter((op) => op === 'record')).toHaveLength(1);
    expect(store.states.get('payments')?.window).toEqual({ kind: 'count', outcomes: 'ssssssss' });
    for (let i = 0; i < 8; i++) await breaker.execute(boom).catch(() => undefined);
    expect(breaker.status).toBe('open');
    await settle();
    expect(store.operations.filter((op) => op === 'record')).toHaveLength(2);
    expect(store.states.get('payments')?.state).toBe('open');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('sends a million calls of one flush interval as one reduced batch, bounded by the window', async () => {
    const breaker = make({
      failureThreshold: 1_000,
      slidingWindow: { type: 'count', size: 10_000 },
      failureRateThreshold: 0.5,
      recordIntervalMs: 1_000,
    });
    await breaker.execute(ok);
    await vi.advanceTimersByTimeAsync(1_000);
    store.recorded.length = 0;
    const fail = (): never => {
      throw new Error('boom');
    };
    const calls: Promise<unknown>[] = [];
    for (let i = 0; i < 1_000_000; i++) {
      calls.push(breaker.execute(i % 10 === 9 ? fail : () => i).catch(() => undefined));
    }
    await Promise.all(calls);
    expect(store.recorded).toEqual([]);
    // The view takes the batch when it is sent, before the store confirms it.
    await vi.advanceTimersByTimeAsync(1_000);
    expect(store.recorded).toHaveLength(1);
    const batch = store.recorded[0];
    expect(batch).toMatchObject({
      calls: 1_000_000,
      failures: 100_000,
      trailingFailures: 1,
      trailingSuccesses: 0,
    });
    expect((batch as { recent: string }).recent).toBe('sssssssssf'.repeat(1_000));
    expect(store.states.get('payments')).toMatchObject({ state: 'closed', failureCount: 1 });
    expect(breaker.stateData.window).toEqual({ kind: 'count', outcomes: 'sssssssssf'.repeat(1_000) });
  }, 30_000);

  it('flushes a batch the moment the view plus the batch trips, judged per outcome', async () => {
    const breaker = make({
      failureThreshold: 1_000,
      slidingWindow: { type: 'count', size: 10 },
      minimumCalls: 10,
      failureRateThreshold: 0.5,
      recordIntervalMs: 1_000,
    });
    // Four failures reach the store; the view knows them.
    for (let i = 0; i < 4; i++) await breaker.execute(boom).catch(() => undefined);
    await vi.advanceTimersByTimeAsync(1_000);
    for (let i = 0; i < 5; i++) await breaker.execute(ok);
    expect(breaker.status).toBe('closed');
    // The tenth call in the window is the fifth failure: 5 / 10 trips, at once, without the timer.
    await breaker.execute(boom).catch(() => undefined);
    expect(breaker.status).toBe('open');
    await settle();
    expect(store.recorded.at(-1)).toMatchObject({ calls: 6, failures: 1, recent: 'sssssf' });
    expect(store.states.get('payments')).toMatchObject({ state: 'open' });
  });

  it('sends a batch at once when its first outcome trips the circuit', async () => {
    const breaker = make({
      failureThreshold: 1,
      slidingWindow: { type: 'count', size: 10 },
      recordIntervalMs: 1_000,
    });
    await breaker.execute(boom).catch(() => undefined);
    await settle();
    expect(store.states.get('payments')?.state).toBe('open');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('sends window outcomes at once to a local store', async () => {
    store = new ScriptedStore({ local: true });
    const breaker = make({ slidingWindow: { type: 'count', size: 10 } });
    await breaker.execute(ok);
    await settle();
    expect(store.states.get('payments')?.window).toEqual({ kind: 'count', outcomes: 's' });
  });

  it('measures slow calls', async () => {
    store = new ScriptedStore({ local: true });
    const breaker = make({
      slidingWindow: { type: 'count', size: 2 },
      minimumCalls: 2,
      slowCallDurationMs: 100,
      slowCallRateThreshold: 1,
    });
    const slowCall = (): Promise<string> => new Promise((resolve) => setTimeout(() => resolve('late'), 150));
    const first = breaker.execute(slowCall);
    await vi.advanceTimersByTimeAsync(150);
    await first;
    expect(breaker.stateData.window).toEqual({ kind: 'count', outcomes: 'S' });
    const second = breaker.execute(slowCall);
    await vi.advanceTimersByTimeAsync(150);
    await second;
    expect(breaker.status).toBe('open');
  });

  it('closes idempotently, flushing batched outcomes and refusing further calls', async () => {
    const breaker = make({ slidingWindow: { type: 'count', size: 10 }, recordIntervalMs: 5_000 });
    await breaker.execute(ok);
    await breaker.close();
    await breaker.close();
    expect(store.operations).toContain('record');
    expect(store.operations).toContain('unsubscribe');
    expect(vi.getTimerCount()).toBe(0);
    await expect(breaker.execute(ok)).rejects.toBeInstanceOf(ClosedError);
    await using disposable = createCircuitBreaker({ name: 'disposable', store });
    expect(disposable.name).toBe('disposable');
  });

  it('costs no timer while idle, however many breakers exist', async () => {
    const many = Array.from({ length: 1_000 }, (_, i) => make({ name: `circuit-${i}` }));
    for (const breaker of many.slice(0, 10)) await breaker.execute(ok);
    expect(vi.getTimerCount()).toBe(0);
  });

  describe('construction', () => {
    it.each([
      [{ name: '' }, InvalidCircuitNameError, 'circuit name must not be empty'],
      [{ name: 'a\nb' }, InvalidCircuitNameError, 'control characters'],
      [{ failureThreshold: 0 }, RangeError, 'failureThreshold must be a positive integer, got 0'],
      [{ callTimeoutMs: -5 }, RangeError, 'callTimeoutMs must be a positive integer, got -5'],
      [
        { callTimeoutMs: 10_000, probeLeaseMs: 1_000 },
        RangeError,
        'probeLeaseMs must be at least callTimeoutMs',
      ],
      [{ failureTreshold: 3 }, TypeError, 'options has an unknown option "failureTreshold"'],
      [{ fallback: 'nope' }, TypeError, 'fallback must be a function, got "nope"'],
      [{ classifyError: 1 }, TypeError, 'classifyError must be a function, got 1'],
      [{ classifyResult: {} }, TypeError, 'classifyResult must be a function, got an object'],
      [{ random: [] }, TypeError, 'random must be a function, got an array'],
      [
        { onStoreFailure: 'panic' },
        TypeError,
        'onStoreFailure must be one of "fail-open", "fail-closed", got "panic"',
      ],
      [{ refreshIntervalMs: 0 }, RangeError, 'refreshIntervalMs must be a positive integer, got 0'],
      [{ recordIntervalMs: -1 }, RangeError, 'recordIntervalMs must be a non-negative integer, got -1'],
      [{ store: {} }, TypeError, 'store must implement CircuitStateStore specification v1, got undefined'],
      [{ store: null }, TypeError, 'store must be an object, got null'],
      [{ signal: 'stop' }, TypeError, 'signal must be an AbortSignal, got "stop"'],
      [{ random: () => Number.NaN }, RangeError, 'random must return a number in [0, 1), got NaN'],
      [{ random: () => 1 }, RangeError, 'random must return a number in [0, 1), got 1'],
    ])('rejects %j', (override, errorClass, message) => {
      const options = { name: 'x', store, ...override } as unknown as CircuitBreakerOptions;
      expect(() => new CircuitBreaker(options)).toThrow(errorClass);
      expect(() => new CircuitBreaker(options)).toThrow(message);
    });

    it('rejects a missing options object', () => {
      expect(() => new CircuitBreaker(undefined as never)).toThrow(
        'options must be an object, got undefined',
      );
    });

    it('derives the probe lease from the call timeout', () => {
      expect(make({ callTimeoutMs: 45_000 }).policy.probeLeaseMs).toBe(45_000);
    });
  });

  describe('aborts settle a call at once wherever it waits for the store', () => {
    it('while the first load waits for a slow store', async () => {
      store.latencyMs = 10_000;
      const breaker = make();
      const controller = new AbortController();
      let ran = false;
      const call = breaker.execute(
        () => {
          ran = true;
          return 'late';
        },
        { signal: controller.signal },
      );
      await vi.advanceTimersByTimeAsync(10);
      controller.abort(new Error('client left'));
      await expect(call).rejects.toThrow('client left');
      expect(ran).toBe(false);
    });

    it('while a half-open admission waits for the store, giving back the lease it was granted', async () => {
      const shutdown = new AbortController();
      const breaker = make({ failureThreshold: 1, openTimeoutMs: 1_000, signal: shutdown.signal });
      await failTimes(breaker, 1);
      await settle();
      vi.advanceTimersByTime(1_000);
      store.latencyMs = 500;
      const call = breaker.execute(ok);
      await vi.advanceTimersByTimeAsync(10);
      shutdown.abort(new Error('shutting down'));
      await expect(call).rejects.toThrow('shutting down');
      // The acquire lands later and leases a probe: it is released, not held for probeLeaseMs.
      await vi.advanceTimersByTimeAsync(2_000);
      expect(store.states.get('payments')).toMatchObject({ state: 'half_open', probes: [] });
    });

    it('while an override that lapsed is re-checked with the store', async () => {
      const breaker = make();
      await breaker.forceOpen({ durationMs: 1_000 });
      vi.advanceTimersByTime(1_000);
      store.latencyMs = 5_000;
      const controller = new AbortController();
      const call = breaker.execute(ok, { signal: controller.signal });
      await vi.advanceTimersByTimeAsync(10);
      controller.abort(new Error('gave up'));
      await expect(call).rejects.toThrow('gave up');
    });

    it('with a call timeout, an already-aborted breaker-wide signal settles the call before it runs', async () => {
      const shutdown = new AbortController();
      const breaker = make({ callTimeoutMs: 1_000, signal: shutdown.signal });
      await breaker.execute(ok);
      shutdown.abort(new Error('closed'));
      let ran = false;
      await expect(
        breaker.execute(() => {
          ran = true;
          return 'x';
        }),
      ).rejects.toThrow('closed');
      expect(ran).toBe(false);
      expect(vi.getTimerCount()).toBe(0);
    });
  });

  describe('the signal fn receives', () => {
    it('is the call signal as it is, or the breaker-wide one, when nothing needs combining', async () => {
      const shutdown = new AbortController();
      const breaker = make({ signal: shutdown.signal });
      await breaker.execute(ok);
      const own = new AbortController();
      let seen: AbortSignal | undefined;
      await breaker.execute(
        (signal) => {
          seen = signal;
          return 'x';
        },
        { signal: own.signal },
      );
      expect(seen).toBe(own.signal);
      await breaker.execute((signal) => {
        seen = signal;
        return 'x';
      });
      expect(seen).toBe(shutdown.signal);
    });

    it('with a timeout, is aborted by the timeout, by the call signal and by the breaker-wide one', async () => {
      const shutdown = new AbortController();
      const breaker = make({ callTimeoutMs: 1_000, signal: shutdown.signal });
      await breaker.execute(ok);
      const signals: AbortSignal[] = [];
      const hang = (signal: AbortSignal) => {
        signals.push(signal);
        return new Promise<never>(() => undefined);
      };
      const timedOut = expect(breaker.execute(hang)).rejects.toBeInstanceOf(CallTimeoutError);
      await vi.advanceTimersByTimeAsync(1_000);
      await timedOut;
      expect(signals[0]?.reason).toBeInstanceOf(CallTimeoutError);
      const own = new AbortController();
      const byCaller = breaker.execute(hang, { signal: own.signal });
      own.abort(new Error('caller'));
      await expect(byCaller).rejects.toThrow('caller');
      expect(signals[1]?.aborted).toBe(true);
      const byShutdown = breaker.execute(hang);
      shutdown.abort(new Error('shutdown'));
      await expect(byShutdown).rejects.toThrow('shutdown');
      expect(signals[2]?.aborted).toBe(true);
      expect(vi.getTimerCount()).toBe(0);
    });

    it('leaves nothing on a long-lived signal once 10,000 calls settled, and joins it with no listener per call', async () => {
      const shutdown = new AbortController();
      const breaker = make({ callTimeoutMs: 5_000, signal: shutdown.signal });
      await breaker.execute(ok);
      const resolvers: Array<() => void> = [];
      const calls = Array.from({ length: 10_000 }, () =>
        breaker.execute(() => new Promise<string>((resolve) => resolvers.push(() => resolve('done')))),
      );
      await settle();
      expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(1);
      expect(CallGroup.of(shutdown.signal).size).toBe(10_000);
      for (const resolve of resolvers) resolve();
      await Promise.all(calls);
      expect(getEventListeners(shutdown.signal, 'abort')).toHaveLength(1);
      expect(CallGroup.of(shutdown.signal)).toMatchObject({ size: 0, hooks: 0 });
      expect(vi.getTimerCount()).toBe(0);
    });
  });

  describe('a store with a write budget (deferredWritesPerSecond)', () => {
    const windowed = { slidingWindow: { type: 'count' as const, size: 100 }, minimumCalls: 10 };

    it('sends at most its budget of window batches per second, all circuits together, and every circuit in turn', async () => {
      store = new ScriptedStore({ deferredWritesPerSecond: 10 });
      const many = Array.from({ length: 100 }, (_, i) => make({ name: `w-${i}`, ...windowed }));
      for (const breaker of many) await breaker.execute(ok);
      await settle();
      store.operations.length = 0;
      const sentBy = new Set<string>();
      const original = store.record.bind(store);
      store.record = (name, outcomes, policy, jitter) => {
        sentBy.add(name);
        return original(name, outcomes, policy, jitter);
      };
      for (let second = 0; second < 30; second++) {
        for (const breaker of many) await breaker.execute(ok);
        await vi.advanceTimersByTimeAsync(1_000);
      }
      const records = store.operations.filter((op) => op === 'record').length;
      expect(records).toBeLessThanOrEqual(10 * 30 + 1);
      expect(records).toBeGreaterThanOrEqual(10 * 30 - 20);
      // 100 circuits at 10 a second: each one's batch went within 10 s, three times in 30 s.
      expect(sentBy.size).toBe(100);
      expect(vi.getTimerCount()).toBeLessThanOrEqual(1);
    });

    it('sends a batch that trips its circuit at once, whatever waits in the budget', async () => {
      store = new ScriptedStore({ deferredWritesPerSecond: 1 });
      const many = Array.from({ length: 50 }, (_, i) => make({ name: `w-${i}`, ...windowed }));
      for (const breaker of many) await breaker.execute(ok);
      await settle();
      for (const breaker of many) await breaker.execute(ok);
      const hot = many[49] as CircuitBreaker;
      store.operations.length = 0;
      let failures = 0;
      while (hot.status === 'closed' && failures < 20) {
        await expect(hot.execute(boom)).rejects.toThrow('boom');
        failures++;
      }
      await settle();
      expect(hot.status).toBe('open');
      // No time passed: the budget sent nothing, the tripping batch went by itself.
      expect(store.operations).toEqual(['record']);
      expect(store.states.get('w-49')?.state).toBe('open');
    });

    it('sends what waits when the breaker closes, and takes it out of the queue', async () => {
      store = new ScriptedStore({ deferredWritesPerSecond: 1 });
      const a = make({ name: 'a', ...windowed });
      const b = make({ name: 'b', ...windowed });
      for (const breaker of [a, b]) await breaker.execute(ok);
      await settle();
      for (const breaker of [a, b]) await breaker.execute(ok);
      store.operations.length = 0;
      const records = () => store.operations.filter((op) => op === 'record');
      await a.close();
      expect(records()).toEqual(['record']);
      await vi.advanceTimersByTimeAsync(5_000);
      // Only b's batch was left for the budget.
      expect(records()).toEqual(['record', 'record']);
    });
  });

  describe('half-open admission without a herd', () => {
    const hang = (): Promise<never> => new Promise<never>(() => undefined);

    it('refuses locally while every probe slot is leased, and asks again once a lease is given back', async () => {
      const breaker = make({ failureThreshold: 1, openTimeoutMs: 1_000, successThreshold: 2 });
      await failTimes(breaker, 1);
      await settle();
      vi.advanceTimersByTime(1_000);
      let finishProbe: (value: string) => void = () => undefined;
      const probe = breaker.execute(() => new Promise<string>((resolve) => (finishProbe = resolve)));
      await settle();
      store.operations.length = 0;
      const rejected: unknown[] = [];
      breaker.onRejected((event) => rejected.push(event));
      for (let i = 0; i < 100; i++) {
        await expect(breaker.execute(ok)).rejects.toMatchObject({
          reason: 'half_open_full',
          retryAt: T0 + 1_000 + 30_000,
        });
      }
      expect(store.operations).toEqual([]);
      expect(rejected).toHaveLength(100);
      finishProbe('probe ok');
      await expect(probe).resolves.toBe('probe ok');
      await settle();
      // The lease came back: the next call asks the store, is admitted, and its success closes.
      await expect(breaker.execute(ok)).resolves.toBe('ok');
      await settle();
      expect(store.operations.filter((operation) => operation === 'acquire')).toHaveLength(1);
      expect(breaker.status).toBe('closed');
    });

    it('asks the store once for 1,000 calls that arrive together when the open period ends', async () => {
      const breaker = make({ failureThreshold: 1, openTimeoutMs: 1_000 });
      await failTimes(breaker, 1);
      await settle();
      vi.advanceTimersByTime(1_000);
      store.latencyMs = 5;
      store.operations.length = 0;
      const calls = Array.from({ length: 1_000 }, () =>
        breaker.execute(hang).catch((error: unknown) => error),
      );
      await vi.advanceTimersByTimeAsync(5);
      await settle();
      expect(store.operations).toEqual(['acquire']);
      const settled = await Promise.race([
        Promise.all(calls.slice(1)),
        new Promise((resolve) => setTimeout(resolve, 1, 'pending')),
      ]);
      await vi.advanceTimersByTimeAsync(1);
      expect(settled).not.toBe('pending');
      expect(
        (settled as unknown[]).every(
          (error) => CircuitOpenError.isInstance(error) && error.reason === 'half_open_full',
        ),
      ).toBe(true);
      expect(store.states.get('payments')?.probes).toHaveLength(1);
    });

    it('asks again once the leases it knew of lapse, and when another instance gives its lease back', async () => {
      const policy = { failureThreshold: 1, openTimeoutMs: 1_000, probeLeaseMs: 5_000, successThreshold: 2 };
      const breaker = make(policy);
      await failTimes(breaker, 1);
      await settle();
      vi.advanceTimersByTime(1_000);
      // Another instance takes the only probe slot.
      store.applyNow('payments', { type: 'acquire', leaseId: 'other.1', jitter: 0 }, breaker.policy);
      await settle();
      store.operations.length = 0;
      await expect(breaker.execute(ok)).rejects.toMatchObject({ reason: 'half_open_full' });
      await expect(breaker.execute(ok)).rejects.toMatchObject({ reason: 'half_open_full' });
      expect(store.operations).toEqual([]);
      // Its lease lapses: this instance asks, and takes the slot.
      vi.advanceTimersByTime(5_000);
      let finish: (value: string) => void = () => undefined;
      const mine = breaker.execute(() => new Promise<string>((resolve) => (finish = resolve)));
      await settle();
      expect(store.operations.filter((operation) => operation === 'acquire')).toEqual(['acquire']);
      finish('done');
      await mine;
      await settle();
      // The other instance takes the slot again and gives it back with a success: the push frees it.
      store.applyNow('payments', { type: 'acquire', leaseId: 'other.2', jitter: 0 }, breaker.policy);
      await settle();
      store.operations.length = 0;
      await expect(breaker.execute(ok)).rejects.toMatchObject({ reason: 'half_open_full' });
      expect(store.operations).toEqual([]);
      const round = store.states.get('payments')?.halfOpenRound ?? 0;
      store.applyNow(
        'payments',
        { type: 'record', outcomes: [{ kind: 'ignored', probe: { id: 'other.2', round } }], jitter: 0 },
        breaker.policy,
      );
      await settle();
      await expect(breaker.execute(ok)).resolves.toBe('ok');
      expect(store.operations).toContain('acquire');
    });
  });

  describe('per-call events', () => {
    it('report every kind of call with its duration, and the fallback that replaced one', async () => {
      const breaker = make<string>({
        failureThreshold: 2,
        callTimeoutMs: 100,
        classifyError: (error) => ((error as Error).message === 'meh' ? 'ignored' : 'failure'),
        fallback: () => 'fallback',
      });
      const events: Array<{ type: string; durationMs: number; reason?: string }> = [];
      breaker.onCall((event) => events.push(event));
      const successes: unknown[] = [];
      breaker.onSuccess((event) => successes.push(event));
      const first = breaker.execute(() => new Promise((resolve) => setTimeout(resolve, 20, 'ok')));
      await vi.advanceTimersByTimeAsync(20);
      await first;
      const slow = breaker.execute(() => new Promise(() => undefined));
      await vi.advanceTimersByTimeAsync(100);
      await expect(slow).resolves.toBe('fallback');
      await expect(breaker.execute(() => Promise.reject(new Error('meh')))).rejects.toThrow('meh');
      await breaker.execute(boom);
      await breaker.execute(ok);
      expect(events.map((event) => event.type)).toEqual([
        'success',
        'timeout',
        'fallback',
        'ignored',
        'failure',
        'fallback',
        'rejected',
        'fallback',
      ]);
      expect(events[0]?.durationMs).toBe(20);
      expect(events[1]?.durationMs).toBe(100);
      expect(events[6]).toMatchObject({ reason: 'open' });
      expect(successes).toHaveLength(1);
    });

    it('build nothing and read no clock without a listener, and stop once the last is disposed', async () => {
      let reads = 0;
      const clock = {
        now: () => Date.now(),
        monotonic: () => {
          reads += 1;
          return performance.now();
        },
        setTimeout: (callback: () => void, ms: number) => setTimeout(callback, ms),
        clearTimeout: (handle: unknown) => clearTimeout(handle as ReturnType<typeof setTimeout>),
      };
      const breaker = make({ clock });
      await breaker.execute(ok);
      for (let i = 0; i < 100; i++) await breaker.execute(ok);
      expect(reads).toBe(0);
      const subscription = breaker.onFailure(() => undefined);
      await breaker.execute(ok);
      expect(reads).toBe(2);
      subscription.dispose();
      for (let i = 0; i < 16; i++) await breaker.execute(ok);
      expect(reads).toBe(2);
    });

    it('report calls a registry runs uncounted (fail-open): they run under the guards and count for nothing', async () => {
      const breaker = make({ failureThreshold: 1 });
      const events: string[] = [];
      breaker.onCall((event) => events.push(event.type));
      await expect(breaker.executeUncounted(boom)).rejects.toThrow('boom');
      await settle();
      expect(breaker.status).toBe('closed');
      expect(store.operations.filter((op) => op === 'record')).toEqual([]);
      expect(events).toEqual(['failure']);
    });
  });
});
