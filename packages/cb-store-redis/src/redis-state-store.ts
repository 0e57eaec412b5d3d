import { createHash } from 'node:crypto';
import {
  type AcquireRequest,
  type AcquireResult,
  type Admission,
  assertInteger,
  assertKnownKeys,
  assertObject,
  assertOverrideRequest,
  assertRecordedOutcomes,
  assertStateData,
  type CallOutcome,
  ChangeListeners,
  type ChangeReceiver,
  type CircuitPolicy,
  type CircuitStateChange,
  type CircuitStateData,
  type CircuitStateStore,
  type CircuitStatus,
  type CircuitTombstone,
  type Clock,
  ClosedError,
  DEFAULT_POLICY,
  type Disposable,
  InvalidStateDataError,
  isTombstone,
  JITTER_SCALE,
  LEASE_ID,
  Listeners,
  type OverrideRequest,
  type ProbeTicket,
  READ_LIMITS,
  type RecordedOutcomes,
  reduceOutcomes,
  type StoredCircuit,
  type SubscribeOptions,
  systemClock,
  type TransitionReason,
  validateCircuitName,
} from '@xnai/cb-core';
import { InFlightLimit } from '@xnai/kit';
import type { ChainableCommander } from 'ioredis';
import { DATA_FIELD, decodeStored, encodePolicy, encodeStored } from './codec.js';
import {
  ClientLink,
  ExecutorLink,
  isCommandExecutor,
  isRedisClient,
  type RedisClient,
  type RedisCommandExecutor,
  type RedisLink,
  toStoreError,
} from './redis-link.js';
import readScript from './scripts/read.lua';
import transitionScript from './scripts/transition.lua';

/** Options of {@link RedisStateStore}. Validated once, at construction. */
export interface RedisStateStoreOptions {
  /**
   * Where to send commands: a `RedisConnectionManager` from `@xnai/cb-redis-connection`
   * (recommended: fail-fast timeouts, fallback detection, resubscription) or an ioredis client.
   */
  readonly redis: RedisCommandExecutor | RedisClient;
  /**
   * Prefix of every circuit's key: `<keyPrefix><name>`. On Redis Cluster a hash tag such as
   * `{cb}:` puts every circuit in one slot; the store works either way (one key per script).
   * @default 'circuit_breaker:'
   */
  readonly keyPrefix?: string;
  /**
   * Pub/Sub channel on which each transition is announced once.
   * @default `${keyPrefix}events`
   */
  readonly channel?: string;
  /**
   * A circuit's key expires this long after its last write (the seed's one hour).
   * @default 3_600_000
   */
  readonly ttlMs?: number;
  /**
   * Bound of each operation when `redis` is a bare client (a connection manager has its own).
   * @default 250
   */
  readonly operationTimeoutMs?: number;
  /**
   * This process's clock. The store learns its offset from Redis `TIME` on every reply, so that
   * {@link RedisStateStore.clock} tells Redis time even where local clocks are off.
   * @default systemClock
   */
  readonly clock?: Clock;
  /**
   * Scripts take time from `clock` instead of Redis `TIME`. Every instance must then have
   * synchronised clocks; meant for tests and single-process use.
   * @default false (Redis TIME: one clock for the whole fleet)
   */
  readonly useClientTime?: boolean;
  /**
   * Keys asked for per SCAN call when listing.
   * @default 500
   */
  readonly scanCount?: number;
  /**
   * How often the store checks its subscriber end to end (one PING on the subscriber connection, for
   * every circuit at once), once something subscribed. A subscriber that does not answer within the
   * operation timeout is reconnected, and every circuit subscribed by name is then re-read, so a
   * change is missed for at most about this long plus one operation timeout, even when only the
   * subscriber's connection is silently cut. Breakers on this store therefore need no per-circuit
   * re-read (`verifiesPushes`). `null`: no check (and breakers re-read every `refreshIntervalMs`);
   * over a connection manager without `checkSubscriber()`, no check either.
   * @default 5000
   */
  readonly subscriberCheckIntervalMs?: number | null;
  /**
   * The write budget of every breaker on this store together: how many sliding-window batches that
   * trip nothing they may send per second (`CircuitStateStore.deferredWritesPerSecond`). A batch
   * that trips its circuit goes at once. With 1,000 windowed circuits the fleet's window data is
   * then at most `1,000 / 40 = 25 s` behind what this instance counted; with 40 or fewer, at most
   * the breakers' `recordIntervalMs` (1 s). `null`: no budget, every breaker sends its batch every
   * `recordIntervalMs`.
   * @default 40
   */
  readonly deferredWritesPerSecond?: number | null;
}

/** Payload of {@link RedisStateStore.onCorruptState}. */
export interface CorruptStateEvent {
  /** The circuit whose stored data was wrong. */
  readonly name: string;
  /** What was wrong; `clamped:<field>` means future times were pulled back to Redis time. */
  readonly problem: string;
  /** `true` when the data was unusable and treated as absent (it is replaced on the next write). */
  readonly discarded: boolean;
}

/** Counters of {@link RedisStateStore.getStats}. */
export interface RedisStateStoreStats {
  /** Reads that found unusable data (treated as absent). */
  readonly corruptStates: number;
  /** Reads that clamped future timestamps. */
  readonly clampedStates: number;
  /** NOSCRIPT replies answered by loading the script again. */
  readonly scriptReloads: number;
  /** Messages on the events channel that were not ours or not valid. */
  readonly foreignMessages: number;
}

const OPTION_NAMES = new Set([
  'redis',
  'keyPrefix',
  'channel',
  'ttlMs',
  'operationTimeoutMs',
  'clock',
  'useClientTime',
  'scanCount',
  'subscriberCheckIntervalMs',
  'deferredWritesPerSecond',
]);
/**
 * How fast two clocks may drift apart, as a fraction of elapsed time, when intersecting what replies
 * say of Redis time (200 ppm: four times what NTP tolerates of a free-running clock).
 */
const CLOCK_DRIFT = 0.000_2;
/**
 * Reads in flight at once per store; the rest wait their turn. A registry of 100,000 circuits loads
 * each one's view at registration: sent all at once, the last ones waited in the client past the
 * operation timeout and the connection manager entered fallback mode (benchmark row
 * `registry.fallback`).
 */
const READS_IN_FLIGHT = 256;
/** Longest a write waits for a pending subscription to come up. */
const SUBSCRIPTION_WAIT_MS = 250;

/** What a read found: Redis time then, the key's type (`none` for no key), our packed data. */
interface RawRead {
  readonly now: number;
  readonly type: string;
  readonly data: string;
}

interface PendingRead {
  readonly key: string;
  resolve(read: RawRead): void;
  reject(error: unknown): void;
}

interface Script {
  readonly source: string;
  readonly sha: string;
}

function script(source: string): Script {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

const TRANSITION = script(transitionScript);
const READ = script(readScript);

function replyCode(error: unknown): string {
  const code = (error as { replyCode?: unknown } | null)?.replyCode;
  if (typeof code === 'string') return code;
  const message = error instanceof Error ? error.message : '';
  return message.split(' ', 1)[0] ?? '';
}

function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/** A probe outcome's code in the script's arguments. */
function probeCode(outcome: CallOutcome): string {
  const slow = outcome.slow === true;
  if (outcome.kind === 'success') return slow ? 'P' : 'p';
  if (outcome.kind === 'failure') return slow ? 'Q' : 'q';
  return 'r';
}

/**
 * Circuit state in Redis, shared by every instance. One hash per circuit; every change is one Lua
 * script that reads Redis `TIME`, applies the breaker's transition, bumps the version, refreshes the
 * TTL and, when the status changed, announces it once on the events channel.
 *
 * @example
 * ```ts
 * const redis = new RedisConnectionManager({ url: process.env.REDIS_URL });
 * await redis.connect();
 * const store = createRedisStateStore({ redis });
 * const breaker = createCircuitBreaker({ name: 'payments', store });
 * ```
 */
export class RedisStateStore implements CircuitStateStore, AsyncDisposable {
  readonly specificationVersion = 'v1' as const;
  readonly local = false;
  readonly keyPrefix: string;
  readonly channel: string;
  readonly ttlMs: number;
  readonly #link: RedisLink;
  readonly #localClock: Clock;
  readonly #useClientTime: boolean;
  /** Redis time minus local time, learned from replies: the middle of {@link #offsetLow}..{@link #offsetHigh}. */
  #offsetMs = 0;
  /** What every reply so far says the offset can be (widened by drift since {@link #offsetAt}). */
  #offsetLow = Number.NEGATIVE_INFINITY;
  #offsetHigh = Number.POSITIVE_INFINITY;
  #offsetAt = 0;
  /** Time as Redis judges it: the local clock corrected by the learned offset. */
  readonly clock: Clock;
  readonly #scanCount: number;
  readonly #listeners = new ChangeListeners();
  readonly #corruptListeners = new Listeners<CorruptStateEvent>();
  #channelSubscription: Disposable | null = null;
  #resyncSubscription: Disposable | null = null;
  #readOnlyScripts = true;
  /** Settles once our own subscription is known to be live (see {@link whenSubscribed}). */
  #subscribed: Promise<void> | null = null;
  #subscribedPending = false;
  /** The wait of {@link #waitForSubscription} under way, shared. */
  #subscriptionWait: Promise<void> | null = null;
  #helloToken = '';
  #onHello: (() => void) | null = null;
  /** A read ran before the subscription was known to be live (its wait timed out). */
  #readBeforeLive = false;
  readonly #subscriberCheckIntervalMs: number | null;
  readonly #deferredWritesPerSecond: number | null;
  #subscriberCheck: ReturnType<typeof setInterval> | null = null;
  /** Reads in flight (see {@link READS_IN_FLIGHT}). */
  readonly #reads = new InFlightLimit(READS_IN_FLIGHT);
  /** The circuits pushed during each re-read under way (see {@link #resync}). */
  readonly #resyncs = new Set<Set<string>>();
  /** Reads waiting for the events subscription, by circuit (a count per name). */
  readonly #awaitingSubscription = new Map<string, number>();
  /** Circuits expedited while their reads waited for the subscription: sent ahead once queued. */
  readonly #expedited = new Set<string>();
  /** Reads asked for in this turn of the event loop, sent together (see {@link #read}). */
  #readBatch: PendingRead[] | null = null;
  /** Reads may go as one pipeline: not on a cluster, whose pipelines must stay in one slot. */
  #pipelines = true;
  #closed = false;
  #stats = { corruptStates: 0, clampedStates: 0, scriptReloads: 0, foreignMessages: 0 };

  /** @throws {TypeError | RangeError} an option is invalid. */
  constructor(options: RedisStateStoreOptions) {
    assertKnownKeys('options', assertObject('options', options), OPTION_NAMES);
    const operationTimeoutMs = assertInteger(
      'operationTimeoutMs',
      options.operationTimeoutMs ?? 250,
      1,
      600_000,
    );
    if (isCommandExecutor(options.redis)) this.#link = new ExecutorLink(options.redis);
    else if (isRedisClient(options.redis)) {
      this.#link = new ClientLink(options.redis, operationTimeoutMs);
      this.#pipelines = !('isCluster' in options.redis && options.redis.isCluster === true);
    } else {
      throw new TypeError(
        `redis must be a RedisConnectionManager or an ioredis client, got ${typeof options.redis}`,
      );
    }
    const keyPrefix = options.keyPrefix ?? 'circuit_breaker:';
    // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point.
    if (typeof keyPrefix !== 'string' || keyPrefix.length > 256 || /[\u0000-\u001f]/.test(keyPrefix)) {
      throw new TypeError(
        `keyPrefix must be a string of at most 256 characters without control characters, got ${JSON.stringify(keyPrefix)}`,
      );
    }
    this.keyPrefix = keyPrefix;
    const channel = options.channel ?? `${keyPrefix}events`;
    if (typeof channel !== 'string' || channel.length === 0) {
      throw new TypeError(`channel must be a non-empty string, got ${JSON.stringify(channel)}`);
    }
    this.channel = channel;
    this.ttlMs = assertInteger('ttlMs', options.ttlMs ?? 3_600_000, 1);
    this.#scanCount = assertInteger('scanCount', options.scanCount ?? 500, 1, 100_000);
    const clock = options.clock ?? systemClock;
    if (typeof clock?.now !== 'function') throw new TypeError('clock must have a now() function');
    this.#localClock = clock;
    if (options.useClientTime !== undefined && typeof options.useClientTime !== 'boolean') {
      throw new TypeError(`useClientTime must be a boolean, got ${JSON.stringify(options.useClientTime)}`);
    }
    this.#useClientTime = options.useClientTime ?? false;
    this.clock = this.#useClientTime ? clock : { now: () => Math.floor(clock.now() + this.#offsetMs) };
    this.#subscriberCheckIntervalMs =
      options.subscriberCheckIntervalMs === null
        ? null
        : assertInteger(
            'subscriberCheckIntervalMs',
            options.subscriberCheckIntervalMs ?? 5_000,
            10,
            86_400_000,
          );
    this.#deferredWritesPerSecond =
      options.deferredWritesPerSecond === null
        ? null
        : assertInteger('deferredWritesPerSecond', options.deferredWritesPerSecond ?? 40, 1, 1_000_000);
  }

  /** The write budget of deferred window batches (see the option); `undefined` when there is none. */
  get deferredWritesPerSecond(): number | undefined {
    return this.#deferredWritesPerSecond ?? undefined;
  }

  /**
   * `true` when the store verifies its push channel itself (see `subscriberCheckIntervalMs`), so
   * breakers need no per-circuit re-read: what the store costs at rest does not grow with circuits.
   */
  get verifiesPushes(): boolean {
    return this.#subscriberCheckIntervalMs !== null && this.#link.canCheckSubscriber;
  }

  #key(name: string): string {
    return this.keyPrefix + name;
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError('RedisStateStore');
  }

  async #eval(script: Script, key: string, args: readonly string[], readOnly: boolean): Promise<unknown[]> {
    const useReadOnly = readOnly && this.#readOnlyScripts;
    const command = useReadOnly ? 'EVALSHA_RO' : 'EVALSHA';
    try {
      return (await this.#link.run((client) =>
        client.call(command, [script.sha, 1, key, ...args]),
      )) as unknown[];
    } catch (error) {
      const code = replyCode(error);
      if (code === 'NOSCRIPT') {
        this.#stats.scriptReloads += 1;
        // EVAL runs the script and caches it for the next EVALSHA.
        const evalCommand = useReadOnly ? 'EVAL_RO' : 'EVAL';
        return (await this.#link.run((client) =>
          client.call(evalCommand, [script.source, 1, key, ...args]),
        )) as unknown[];
      }
      if (useReadOnly && /unknown command/i.test(error instanceof Error ? error.message : '')) {
        // Redis before 7.0 has no EVALSHA_RO.
        this.#readOnlyScripts = false;
        return this.#eval(script, key, args, readOnly);
      }
      throw error;
    }
  }

  #reportProblem(name: string, problem: string): void {
    const discarded = !problem.startsWith('clamped:');
    if (discarded) this.#stats.corruptStates += 1;
    else this.#stats.clampedStates += 1;
    this.#corruptListeners.emit({ name, problem, discarded });
  }

  /** Runs one operation of the transition script; returns what the key holds afterwards. */
  async #run(
    name: string,
    operation: string,
    policy: CircuitPolicy,
    args: readonly string[],
  ): Promise<{
    admission: Admission | null;
    stored: StoredCircuit | undefined;
    status: string;
    flag: string;
  }> {
    validateCircuitName(name);
    this.#assertOpen();
    if (this.#subscribedPending) await this.#waitForSubscription();
    const argv = [
      operation,
      name,
      this.channel,
      String(this.ttlMs),
      this.#useClientTime ? String(Math.floor(this.#localClock.now())) : '',
      ...encodePolicy(policy),
      ...args,
    ];
    let reply: unknown[];
    const sentAt = this.#localClock.now();
    try {
      reply = await this.#eval(TRANSITION, this.#key(name), argv, false);
    } catch (error) {
      throw toStoreError(error, `apply "${operation}" to circuit "${name}"`);
    }
    this.#learnOffset(Number(reply[5]), sentAt);
    const problem = String(reply[4] ?? '');
    if (problem !== '') this.#reportProblem(name, problem);
    let stored: StoredCircuit | undefined;
    const data = String(reply[6] ?? '');
    if (data !== '') {
      const decoded = decodeStored(data, null);
      if (decoded.stored === undefined) {
        throw new InvalidStateDataError(`Redis returned unreadable state for "${name}": ${decoded.problem}`);
      }
      stored = decoded.stored;
    }
    return {
      admission: this.#admission(reply),
      stored,
      status: String(reply[0]),
      flag: String(reply[1] ?? ''),
    };
  }

  /** Runs a transition of the circuit's state (never a deletion): what acquire, record, override, reset do. */
  async #mutate(
    name: string,
    operation: string,
    policy: CircuitPolicy,
    args: readonly string[],
  ): Promise<{ admission: Admission | null; state: CircuitStateData }> {
    const result = await this.#run(name, operation, policy, args);
    if (result.stored === undefined || isTombstone(result.stored)) {
      throw new InvalidStateDataError(`Redis returned no state for "${name}" after "${operation}"`);
    }
    return { admission: result.admission, state: result.stored };
  }

  /**
   * Learns Redis time minus local time from a reply, as NTP does. Redis read `TIME` (whole ms, so
   * the true time is in `[redisNow, redisNow + 1)`) somewhere between `sentAt` and the reply's
   * arrival, so the offset lies in `[redisNow - receivedAt, redisNow + 1 - sentAt]`: a slow or
   * lopsided round trip (a reply held up in a queue, an event-loop stall before it is read) only
   * widens that interval. Intervals are intersected, each widened by {@link CLOCK_DRIFT} for the
   * time since the last one, so the estimate (the middle) is as good as the fastest round trip
   * seen. One that does not overlap means a clock stepped (this host's, or Redis failed over to
   * another machine): it starts over from that reply.
   */
  #learnOffset(redisNow: number, sentAt: number): void {
    if (this.#useClientTime || !Number.isFinite(redisNow)) return;
    const receivedAt = this.#localClock.now();
    // The local clock stepped back during the round trip: this reply bounds nothing.
    if (receivedAt < sentAt) return;
    let low = redisNow - receivedAt;
    let high = redisNow + 1 - sentAt;
    const drift = Math.abs(receivedAt - this.#offsetAt) * CLOCK_DRIFT;
    const knownLow = this.#offsetLow - drift;
    const knownHigh = this.#offsetHigh + drift;
    if (low <= knownHigh && high >= knownLow) {
      low = Math.max(low, knownLow);
      high = Math.min(high, knownHigh);
    }
    this.#offsetLow = low;
    this.#offsetHigh = high;
    this.#offsetAt = receivedAt;
    this.#offsetMs = (low + high) / 2;
  }

  /**
   * Waits (at most {@link SUBSCRIPTION_WAIT_MS}) for the subscription to be live: one wait and one
   * timer shared by every read and write that comes meanwhile (100,000 circuits registered at once
   * made 100,000 timers). A timer that fires late is no proof that the subscription is not live: an
   * event-loop stall (that same burst of registrations, 2 s here) holds back the reply that makes it
   * live as well, so what arrived meanwhile is read first (`setImmediate` runs after the poll phase).
   */
  #waitForSubscription(): Promise<void> {
    this.#subscriptionWait ??= new Promise<void>((resolve) => {
      const timer = setTimeout(() => setImmediate(resolve), SUBSCRIPTION_WAIT_MS);
      timer.unref();
      this.#subscribed?.then(() => {
        clearTimeout(timer);
        resolve();
      });
    }).finally(() => {
      this.#subscriptionWait = null;
    });
    return this.#subscriptionWait;
  }

  #admission(reply: unknown[]): Admission | null {
    const kind = String(reply[1] ?? '');
    const a1 = String(reply[2] ?? '');
    const a2 = String(reply[3] ?? '');
    if (kind === 'allow') return { allowed: true, probe: null };
    if (kind === 'probe') return { allowed: true, probe: { id: a1, round: Number(a2) } };
    if (kind === 'reject') {
      return {
        allowed: false,
        reason: a1 as 'open' | 'half_open_full' | 'forced_open',
        retryAt: a2 === '' ? null : Number(a2),
      };
    }
    return null;
  }

  async getState(name: string): Promise<CircuitStateData | undefined> {
    const stored = await this.peek(name);
    return isTombstone(stored) ? undefined : stored;
  }

  /**
   * Sends a queued read of `name` now, ahead of the others (a caller waits for it); a read still
   * waiting for the events subscription goes ahead once it may be sent.
   */
  expedite(name: string): void {
    if (this.#reads.expedite(name) === 0 && this.#awaitingSubscription.has(name)) this.#expedited.add(name);
  }

  /**
   * What Redis holds for `name`: its state, a deletion's tombstone, or `undefined`; times bounded at
   * Redis time as every read is. For the registry's reconciliation; breakers use {@link getState}.
   */
  async peek(name: string): Promise<StoredCircuit | undefined> {
    validateCircuitName(name);
    this.#assertOpen();
    // A read must come after the subscription is live, or a change made in between reaches nobody.
    let urgent = false;
    if (this.#subscribedPending) {
      const waiting = this.#awaitingSubscription;
      waiting.set(name, (waiting.get(name) ?? 0) + 1);
      try {
        await this.#waitForSubscription();
      } finally {
        const left = (waiting.get(name) ?? 1) - 1;
        if (left > 0) waiting.set(name, left);
        else waiting.delete(name);
        urgent = this.#expedited.has(name);
        // Every read of it waiting here goes ahead: forgotten once the last of them is queued.
        if (left === 0) this.#expedited.delete(name);
      }
    }
    if (this.#onHello !== null) this.#readBeforeLive = true;
    let read: RawRead;
    try {
      const reading = this.#reads.run(() => this.#read(name), name);
      if (urgent) this.#reads.expedite(name);
      read = await reading;
    } catch (error) {
      throw toStoreError(error, `read circuit "${name}"`);
    }
    const now = this.#useClientTime ? Math.floor(this.#localClock.now()) : read.now;
    if (read.type === 'none') return undefined;
    if (read.type !== 'hash') {
      this.#reportProblem(name, `key holds a ${read.type}, not a hash`);
      return undefined;
    }
    const decoded = decodeStored(read.data, { now, limits: READ_LIMITS });
    if (decoded.problem !== null) this.#reportProblem(name, decoded.problem);
    return decoded.stored;
  }

  /**
   * What Redis holds under the circuit's key. Reads asked for together (in one turn of the event
   * loop: a burst of registrations, a reconciliation) go as one pipeline of plain `HGET`s after one
   * `TIME`, a round trip and one socket write for all, costing Redis about one raw command each
   * instead of a script each; a read alone goes the same way (`TIME` and `HGET`: a third of the read
   * script's Redis time). On a cluster, whose pipelines must stay in one slot, reads run the read
   * script.
   */
  #read(name: string): Promise<RawRead> {
    return new Promise<RawRead>((resolve, reject) => {
      let batch = this.#readBatch;
      if (batch === null) {
        batch = [];
        this.#readBatch = batch;
        queueMicrotask(() => void this.#flushReads());
      }
      batch.push({ key: this.#key(name), resolve, reject });
    });
  }

  async #flushReads(): Promise<void> {
    const batch = this.#readBatch ?? [];
    this.#readBatch = null;
    if (!this.#pipelines) {
      for (const read of batch) this.#readAlone(read);
      return;
    }
    try {
      const sentAt = this.#localClock.now();
      // A read alone asks EXISTS at once: a new circuit (no key: the common first read) is then told
      // in one round trip. TIME comes last, so no time another instance wrote before a HGET is later
      // than the `now` the read is judged at.
      const lone = batch.length === 1;
      const replies = await this.#pipeline((pipeline) => {
        for (const read of batch) pipeline.hget(read.key, DATA_FIELD);
        if (lone) pipeline.exists((batch[0] as PendingRead).key);
        pipeline.time();
      });
      const [timeError, time] = replies[replies.length - 1] ?? [new Error('no reply to TIME')];
      if (timeError) throw timeError;
      const [seconds, micros] = time as [string, string];
      const now = Number(seconds) * 1_000 + Math.floor(Number(micros) / 1_000);
      this.#learnOffset(now, sentAt);
      // Nothing under the field: no key, or a hash that is not ours (reported, as the script does).
      const missing: number[] = [];
      const wrongType: number[] = [];
      batch.forEach((_, index) => {
        const [error, value] = replies[index] ?? [new Error('no reply')];
        const read = batch[index] as PendingRead;
        if (error) {
          if (replyCode(error) === 'WRONGTYPE') wrongType.push(index);
          else read.reject(error);
        } else if (value !== null) read.resolve({ now, type: 'hash', data: String(value) });
        else if (!lone) missing.push(index);
        else {
          const [existsError, exists] = replies[1] ?? [new Error('no reply to EXISTS')];
          if (existsError) read.reject(existsError);
          // There while HGET found nothing: a hash without our field, or a key written in between.
          else if (Number(exists) === 0) read.resolve({ now, type: 'none', data: '' });
          else this.#readAlone(read);
        }
      });
      if (missing.length === 0 && wrongType.length === 0) return;
      const checks = await this.#pipeline((pipeline) => {
        for (const index of missing) pipeline.exists((batch[index] as PendingRead).key);
        for (const index of wrongType) pipeline.type((batch[index] as PendingRead).key);
      });
      [...missing, ...wrongType].forEach((index, at) => {
        const read = batch[index] as PendingRead;
        const [error, value] = checks[at] ?? [new Error('no reply')];
        if (error) read.reject(error);
        else if (at < missing.length) {
          // Gone at EXISTS is absent. There at EXISTS while HGET found nothing is a hash without our
          // field, or a key another instance wrote in between: the script, atomic, tells them apart.
          if (Number(value) === 0) read.resolve({ now, type: 'none', data: '' });
          else this.#readAlone(read);
        } else if (String(value) === 'hash') this.#readAlone(read);
        else read.resolve({ now, type: String(value), data: '' });
      });
    } catch (error) {
      // A read already settled ignores this (a promise settles once).
      for (const read of batch) read.reject(error);
    }
  }

  /** One read with the read script; whatever fails on the way rejects the read, never leaves it waiting. */
  #readAlone(read: PendingRead): void {
    let sentAt: number;
    try {
      sentAt = this.#localClock.now();
    } catch (error) {
      read.reject(error);
      return;
    }
    this.#eval(READ, read.key, [], true)
      .then((reply) => {
        this.#learnOffset(Number(reply[0]), sentAt);
        read.resolve({ now: Number(reply[0]), type: String(reply[1]), data: String(reply[2] ?? '') });
      })
      .catch(read.reject);
  }

  /** Runs one pipeline of plain commands; resolves with its `[error, reply]` pairs. */
  async #pipeline(fill: (pipeline: ChainableCommander) => void): Promise<Array<[Error | null, unknown]>> {
    // Only to a single Redis (see #pipelines): the connection manager has no cluster mode yet.
    const replies = await this.#link.run((client) => {
      const pipeline = client.pipeline();
      fill(pipeline);
      return pipeline.exec();
    });
    if (replies === null) throw new Error('the pipeline was discarded');
    return replies;
  }

  /**
   * Replaces the stored state (the seed's `set_state`) so that it takes effect fleet-wide: as given,
   * with a version above the stored one and a decision now; always announced.
   * @throws {InvalidStateDataError} `data` is not valid state data (nothing is written).
   * @throws {StoreUnavailableError} Redis could not be used.
   */
  async setState(name: string, data: CircuitStateData): Promise<boolean> {
    await this.replaceState(name, data);
    return true;
  }

  /**
   * {@link setState} that resolves with what was written (its version and decision set by Redis).
   * @throws {InvalidStateDataError} `data` is not valid state data (nothing is written).
   */
  async replaceState(name: string, data: CircuitStateData): Promise<CircuitStateData> {
    validateCircuitName(name);
    assertStateData(data);
    const result = await this.#run(name, 'set', DEFAULT_POLICY, [encodeStored(data)]);
    if (result.stored === undefined || isTombstone(result.stored)) {
      throw new InvalidStateDataError(`Redis returned no state for "${name}" after "set"`);
    }
    return result.stored;
  }

  /**
   * Writes `data` (a state, or a tombstone to delete) only if what Redis holds still has
   * `expectedVersion` (`0`: nothing). The written version is above both, so every view accepts it;
   * the change is announced (a status change with reason `merged`). Used by reconciliation to merge
   * without losing updates. Times are written as given: a circuit's own open period and leases are
   * kept, whatever the default policy says.
   * @returns `{ written: true, state }` with what was written, or `{ written: false, state }` with
   *   what Redis holds now (`undefined` when nothing) to merge with and try again.
   */
  async compareAndSet(
    name: string,
    expectedVersion: number,
    data: StoredCircuit,
  ): Promise<{ written: boolean; state: StoredCircuit | undefined }> {
    if (!isTombstone(data)) assertStateData(data);
    assertInteger('expectedVersion', expectedVersion, 0);
    const result = await this.#run(name, 'cas', DEFAULT_POLICY, [
      String(expectedVersion),
      encodeStored(data),
    ]);
    return { written: result.status !== 'conflict', state: result.stored };
  }

  /** Deletes the circuit, leaving a tombstone for `ttlMs`; resolves `true` when there was a state. */
  async deleteState(name: string): Promise<boolean> {
    return (await this.removeState(name)) !== undefined;
  }

  /** {@link deleteState} that resolves with the tombstone written, or `undefined` when there was no state. */
  async removeState(name: string): Promise<CircuitTombstone | undefined> {
    const result = await this.#run(name, 'delete', DEFAULT_POLICY, []);
    return result.flag === '1' && isTombstone(result.stored) ? result.stored : undefined;
  }

  /** Lists every circuit under the prefix with SCAN (on every master of a cluster), never KEYS. */
  async getAllStates(): Promise<Map<string, CircuitStateData>> {
    this.#assertOpen();
    const names = await this.listNames();
    const states = new Map<string, CircuitStateData>();
    for (let i = 0; i < names.length; i += 100) {
      const batch = names.slice(i, i + 100);
      const read = await Promise.all(batch.map((name) => this.getState(name)));
      batch.forEach((name, index) => {
        const data = read[index];
        if (data !== undefined) states.set(name, data);
      });
    }
    return states;
  }

  /** Names of the circuits stored under the prefix (SCAN, per master on a cluster). */
  async listNames(): Promise<string[]> {
    this.#assertOpen();
    const pattern = `${escapeGlob(this.keyPrefix)}*`;
    const names = new Set<string>();
    const scanNode = async (node: RedisClient): Promise<void> => {
      let cursor = '0';
      do {
        const [next, keys] = (await this.#link.run(() =>
          (node as import('ioredis').Redis).scan(cursor, 'MATCH', pattern, 'COUNT', this.#scanCount),
        )) as [string, string[]];
        cursor = next;
        for (const key of keys) {
          const name = key.slice(this.keyPrefix.length);
          try {
            names.add(validateCircuitName(name));
          } catch {
            // A key under the prefix that no circuit could have written: not ours to list.
          }
        }
      } while (cursor !== '0');
    };
    try {
      const masters = await this.#link.run(async (client) =>
        'nodes' in client && typeof client.nodes === 'function' && 'isCluster' in client && client.isCluster
          ? client.nodes('master')
          : [client],
      );
      for (const node of masters) await scanNode(node);
    } catch (error) {
      throw toStoreError(error, 'list circuits');
    }
    return [...names];
  }

  async acquire(name: string, policy: CircuitPolicy, request: AcquireRequest): Promise<AcquireResult> {
    if (typeof request?.leaseId !== 'string' || !LEASE_ID.test(request.leaseId)) {
      throw new TypeError(
        `leaseId must be 1 to 64 of A-Z a-z 0-9 . : _ -, got ${JSON.stringify(request.leaseId)}`,
      );
    }
    if (request.jitter !== undefined) assertInteger('jitter', request.jitter, 0, JITTER_SCALE - 1);
    const result = await this.#mutate(name, 'acquire', policy, [
      request.leaseId,
      String(request.jitter ?? 0),
    ]);
    if (result.admission === null) throw new InvalidStateDataError('Redis returned no admission');
    return { admission: result.admission, state: result.state };
  }

  /**
   * Records outcomes as one batch. A list is reduced here first ({@link reduceOutcomes}), so what
   * travels and what the script does is bounded by the window, whatever the number of calls.
   * @throws {TypeError} the outcomes or the batch are malformed (nothing is written).
   */
  async record(
    name: string,
    outcomes: RecordedOutcomes,
    policy: CircuitPolicy,
    jitter = 0,
  ): Promise<CircuitStateData> {
    assertRecordedOutcomes(outcomes, policy);
    assertInteger('jitter', jitter, 0, JITTER_SCALE - 1);
    const { batch, probes } = reduceOutcomes(outcomes, policy);
    let codes = '';
    const tickets: string[] = [];
    for (const outcome of probes) {
      const probe = outcome.probe as ProbeTicket;
      if (!LEASE_ID.test(probe.id)) {
        throw new TypeError(
          `probe id must be 1 to 64 of A-Z a-z 0-9 . : _ -, got ${JSON.stringify(probe.id)}`,
        );
      }
      codes += probeCode(outcome);
      tickets.push(probe.id, String(probe.round));
    }
    const args = [
      String(jitter),
      String(batch.calls),
      String(batch.failures),
      String(batch.slowCalls),
      String(batch.trailingFailures),
      String(batch.trailingSuccesses),
      batch.recent,
      codes,
      ...tickets,
    ];
    return (await this.#mutate(name, 'record', policy, args)).state;
  }

  /**
   * Sets (or with `null` clears) the manual override; a `durationMs` is resolved on Redis time.
   * @throws {TypeError | RangeError} the request is malformed, naming the field (nothing is written).
   */
  async override(
    name: string,
    override: OverrideRequest | null,
    policy: CircuitPolicy,
  ): Promise<CircuitStateData> {
    assertOverrideRequest(override);
    const args =
      override === null
        ? ['', '', '0', '', '']
        : [
            override.mode,
            override.reason ?? '',
            override.reason == null ? '0' : '1',
            override.expiresAt == null ? '' : String(override.expiresAt),
            override.durationMs == null ? '' : String(override.durationMs),
          ];
    return (await this.#mutate(name, 'override', policy, args)).state;
  }

  async reset(name: string, policy: CircuitPolicy): Promise<CircuitStateData> {
    return (await this.#mutate(name, 'reset', policy, [])).state;
  }

  subscribe(listener: (change: CircuitStateChange) => void, options: SubscribeOptions = {}): Disposable {
    this.#assertOpen();
    const subscription = this.#listeners.subscribe(listener, options);
    this.#ensureChannel();
    return subscription;
  }

  /**
   * Delivers `name`'s changes to `receiver` until {@link unwatch}, as a subscription by name does
   * (re-read after a reconnect included): what breakers use, with no subscription object each.
   */
  watch(name: string, receiver: ChangeReceiver): void {
    this.#assertOpen();
    this.#listeners.watch(name, receiver);
    this.#ensureChannel();
  }

  unwatch(name: string, receiver: ChangeReceiver): void {
    this.#listeners.unwatch(name, receiver);
  }

  #ensureChannel(): void {
    if (this.#channelSubscription !== null) return;
    this.#channelSubscription = this.#link.subscribe(this.channel, (message) => this.#onMessage(message));
    this.#resyncSubscription = this.#link.onResync(() => {
      void this.#resync();
    });
    if (this.verifiesPushes) {
      const intervalMs = this.#subscriberCheckIntervalMs as number;
      // One command per interval for every circuit; a failed check reconnects the subscriber, and
      // the reconnect re-reads every circuit subscribed by name (onResync).
      this.#subscriberCheck = setInterval(() => {
        if (!this.#closed) void this.#link.checkSubscriber().catch(() => false);
      }, intervalMs);
      this.#subscriberCheck.unref();
    }
    // SUBSCRIBE completes a round trip later. To know when it is live, publish a token until it
    // comes back to us; writes made meanwhile wait for it (briefly), so a change made after
    // subscribe() is always delivered to the subscriber.
    this.#helloToken = `${process.pid}.${Math.random().toString(36).slice(2)}`;
    this.#subscribedPending = true;
    this.#subscribed = new Promise<void>((resolve) => {
      this.#onHello = () => {
        this.#subscribedPending = false;
        this.#onHello = null;
        resolve();
        // Changes made by others before the subscription was live were not pushed to us: when a
        // read went ahead before it was (Redis slow to answer), re-read every circuit subscribed by
        // name so far, as after a reconnect.
        if (this.#readBeforeLive) void this.#resync();
      };
    });
    const hello = JSON.stringify({ hello: this.#helloToken });
    let attempts = 0;
    const publish = (): void => {
      if (this.#onHello === null || this.#closed) {
        this.#subscribedPending = false;
        return;
      }
      attempts += 1;
      // Writes wait for the subscription only during the first attempts (up to SUBSCRIPTION_WAIT_MS).
      if (attempts > 200) this.#subscribedPending = false;
      // Redis unreachable: nobody waits for a subscription that cannot come up yet. Once a token
      // reached Redis (the store was made before its connection was up), the subscription is
      // about to be live: reads and writes wait for it again, as at the start.
      this.#link
        .run((client) => client.publish(this.channel, hello))
        .then(
          () => {
            if (this.#onHello !== null && attempts <= 200) this.#subscribedPending = true;
          },
          () => {
            this.#subscribedPending = false;
          },
        );
      // Until the token comes back: every 25 ms at first, then every second (Redis still away).
      setTimeout(publish, attempts < 200 ? 25 : 1_000).unref();
    };
    publish();
  }

  /**
   * Resolves once this store's subscription to the events channel is live, so that every change
   * made from then on is delivered. Resolves at once when nothing was subscribed.
   */
  whenSubscribed(): Promise<void> {
    return this.#subscribed ?? Promise.resolve();
  }

  /**
   * `true` once a read went ahead before the subscription was live (it waited the longest it may):
   * a change another instance made meanwhile was pushed to nobody here. The store re-reads the
   * circuits subscribed by name when the subscription comes up; a store built on this one (the
   * registry's) does the same for its own.
   */
  get readBeforeSubscribed(): boolean {
    return this.#readBeforeLive;
  }

  #emit(change: CircuitStateChange): void {
    this.#listeners.emit(change);
  }

  #onMessage(message: string): void {
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(message) as Record<string, unknown>;
    } catch {
      this.#stats.foreignMessages += 1;
      return;
    }
    if (typeof parsed.hello === 'string') {
      if (parsed.hello === this.#helloToken) this.#onHello?.();
      return;
    }
    const name = parsed.name;
    if (typeof name !== 'string') {
      this.#stats.foreignMessages += 1;
      return;
    }
    for (const pushed of this.#resyncs) pushed.add(name);
    if (parsed.deleted === true) {
      const version = Number(parsed.version);
      const decidedAt = Number(parsed.decidedAt);
      this.#emit({
        name,
        version: Number.isSafeInteger(version) ? version : 0,
        state: null,
        transition: null,
        ...(Number.isSafeInteger(decidedAt) ? { decidedAt } : {}),
      });
      return;
    }
    const decoded = typeof parsed.data === 'string' ? decodeStored(parsed.data, null) : null;
    const state = decoded?.stored;
    if (state === undefined || isTombstone(state)) {
      this.#stats.foreignMessages += 1;
      return;
    }
    this.#emit({
      name,
      version: state.version,
      state,
      transition:
        typeof parsed.from === 'string' && typeof parsed.to === 'string'
          ? {
              from: parsed.from as CircuitStatus,
              to: parsed.to as CircuitStatus,
              reason: parsed.reason as TransitionReason,
              at: Number(parsed.at),
            }
          : null,
    });
  }

  /** After a reconnect, pushed changes may have been missed: re-read every circuit listened to by name. */
  async #resync(): Promise<void> {
    // Circuits pushed while their re-read was on its way: the push is at least as new as the read
    // (every change after the read was sent is pushed), and a read that found nothing would take
    // their views back to a fresh circuit (a deletion of version 0: Redis lost it).
    const pushed = new Set<string>();
    this.#resyncs.add(pushed);
    try {
      await this.#reread(pushed);
    } finally {
      this.#resyncs.delete(pushed);
    }
  }

  async #reread(pushed: Set<string>): Promise<void> {
    for (const key of this.#listeners.names()) {
      if (this.#closed) return;
      try {
        pushed.delete(key);
        const stored = await this.peek(key);
        if (pushed.has(key)) continue;
        if (stored === undefined || isTombstone(stored)) {
          this.#emit({ name: key, version: stored?.version ?? 0, state: null, transition: null });
        } else {
          this.#emit({ name: key, version: stored.version, state: stored, transition: null });
        }
      } catch {
        // Still unreachable: the breakers' backstop refresh covers it.
        return;
      }
    }
  }

  /** Listens for unusable or clamped data found in Redis. */
  onCorruptState(listener: (event: CorruptStateEvent) => void): Disposable {
    return this.#corruptListeners.add(listener);
  }

  getStats(): RedisStateStoreStats {
    return { ...this.#stats };
  }

  /** Unsubscribes and drops listeners. The Redis client or manager stays open: it is the caller's. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#subscriberCheck !== null) clearInterval(this.#subscriberCheck);
    this.#subscriberCheck = null;
    this.#channelSubscription?.dispose();
    this.#resyncSubscription?.dispose();
    this.#channelSubscription = null;
    this.#resyncSubscription = null;
    this.#listeners.clear();
    this.#corruptListeners.clear();
    await this.#link.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Creates a {@link RedisStateStore}.
 * @example
 * ```ts
 * const store = createRedisStateStore({ redis: manager, keyPrefix: 'circuit_breaker:' });
 * ```
 */
export function createRedisStateStore(options: RedisStateStoreOptions): RedisStateStore {
  return new RedisStateStore(options);
}
