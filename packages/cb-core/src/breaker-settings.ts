import type { Clock, TimerProvider } from '@xnai/kit';
import type { CallGroup } from './call-runner.js';
import type { CircuitPolicy } from './policy.js';
import type { CircuitStateStore, OutcomeKind } from './store.js';
import type { StateChangeEvent } from './view.js';

/**
 * What a breaker was configured with, its name aside, validated and resolved: read-only, so every
 * breaker configured alike (a registry's circuits, a loop of `createCircuitBreaker` calls) holds one
 * frozen object between them instead of a dozen fields each. The view reads it too.
 */
export interface BreakerSettings {
  readonly store: CircuitStateStore;
  readonly policy: CircuitPolicy;
  readonly clock: Clock & TimerProvider;
  /** The store's notion of now (Redis time, for a Redis store); the breaker's clock when it has none. */
  readonly storeClock: Clock;
  readonly random: () => number;
  readonly callTimeoutMs: number | null;
  readonly classifyError: (error: unknown) => OutcomeKind;
  readonly classifyResult: (value: unknown) => OutcomeKind;
  readonly fallback: ((error: unknown) => unknown) | null;
  readonly recordIntervalMs: number;
  readonly failClosed: boolean;
  /** No call timeout and no slow-call measurement: calls need neither a timer nor a clock read. */
  readonly untimed: boolean;
  /** The calls in flight under the breaker-wide signal, shared with every breaker on that signal. */
  readonly group: CallGroup | null;
  /** The view is re-read when older than this; infinite without a backstop refresh. */
  readonly refreshIntervalMs: number;
  /** The `onStateChange` option: told of every status change of every breaker holding these settings. */
  readonly onStateChange: ((event: StateChangeEvent) => void) | null;
}

const SETTING_NAMES = [
  'store',
  'policy',
  'clock',
  'storeClock',
  'random',
  'callTimeoutMs',
  'classifyError',
  'classifyResult',
  'fallback',
  'recordIntervalMs',
  'failClosed',
  'untimed',
  'group',
  'refreshIntervalMs',
  'onStateChange',
] as const satisfies ReadonlyArray<keyof BreakerSettings>;

/**
 * Settings shared lately, newest first. Weakly held: settings no breaker holds any more (and the
 * store and clock in them) are not kept alive by this cache.
 */
const recent: Array<WeakRef<BreakerSettings>> = [];
const RECENT_LIMIT = 8;

function sameSettings(a: BreakerSettings, b: BreakerSettings): boolean {
  for (const key of SETTING_NAMES) if (!Object.is(a[key], b[key])) return false;
  return true;
}

/**
 * Returns a frozen settings object equal to `settings` (every field by identity): one made for a
 * breaker lately when there is one, else `settings` itself, frozen and remembered.
 */
export function shareSettings(settings: BreakerSettings): BreakerSettings {
  for (let index = 0; index < recent.length; index++) {
    const held = recent[index]?.deref();
    if (held === undefined) {
      recent.splice(index, 1);
      index -= 1;
    } else if (sameSettings(held, settings)) {
      if (index > 0) recent.unshift(...recent.splice(index, 1));
      return held;
    }
  }
  const frozen = Object.freeze(settings);
  recent.unshift(new WeakRef(frozen));
  if (recent.length > RECENT_LIMIT) recent.length = RECENT_LIMIT;
  return frozen;
}
