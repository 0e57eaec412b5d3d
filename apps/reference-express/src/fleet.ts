import {
  type CircuitStateData,
  type CircuitStatus,
  type Disposable,
  effectiveStatus,
  isTombstone,
  toDisposable,
} from '@xnai/cb-core';
import type { RedisConnectionManager } from '@xnai/cb-redis-connection';
import { RedisStateStore } from '@xnai/cb-store-redis';

/** Where this instance's circuit state goes now. */
export type StoreMode = 'redis' | 'fallback' | 'memory_only';

/** One circuit as one instance (or Redis) sees it: what the fleet view compares. */
export interface CircuitFacts {
  readonly status: CircuitStatus;
  readonly state: CircuitStateData['state'];
  readonly version: number;
  readonly failureCount: number;
  readonly successCount: number;
  readonly openUntil: number;
  readonly override: CircuitStateData['override'];
  readonly probes: number;
}

/** Push delay of state changes to this instance: Redis time of a transition → heard here. */
export interface PushDelaySummary {
  readonly samples: number;
  readonly lastMs: number | null;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
}

/** What each instance publishes about itself, every second and at each change it sees. */
export interface Heartbeat {
  readonly instanceId: string;
  readonly pid: number;
  readonly startedAt: number;
  /** Epoch ms, this instance's clock. */
  readonly sentAt: number;
  readonly versions: { readonly app: string; readonly library: string; readonly node: string };
  readonly mode: StoreMode;
  readonly outage: boolean;
  readonly loadRunning: boolean;
  readonly fallbackStatesCount: number;
  readonly pushDelay: PushDelaySummary;
  readonly circuits: Readonly<Record<string, CircuitFacts>>;
}

/** One instance in the fleet view. */
export interface FleetMember {
  readonly heartbeat: Heartbeat;
  /** Milliseconds since its last heartbeat arrived here. */
  readonly ageMs: number;
  /** No heartbeat for longer than {@link STALE_AFTER_MS}: it may be gone or cut off. */
  readonly stale: boolean;
  readonly self: boolean;
}

/** Redis's own copy of a circuit, or `null` when Redis holds none (never written, or deleted). */
export type RedisFacts = CircuitFacts | null;

/** The fleet view: every instance's own view beside Redis's state, with the differences. */
export interface FleetView {
  readonly available: boolean;
  /** The monitor's connection to Redis (direct, not through the outage switch). */
  readonly monitorConnected: boolean;
  readonly members: readonly FleetMember[];
  /** Redis's state of every circuit any instance reports. */
  readonly redis: Readonly<Record<string, RedisFacts>>;
  /** When Redis's state was last read, epoch ms; `null` before the first read. */
  readonly redisReadAt: number | null;
  /** `<instanceId>/<circuit>` for each view whose status or version differs from Redis's. */
  readonly divergent: readonly string[];
}

/** Heartbeats are published this often. */
export const HEARTBEAT_INTERVAL_MS = 1_000;
/** A member not heard of for this long is shown stale. */
export const STALE_AFTER_MS = 3_500;
/** Heartbeat keys expire after this; a member not heard of is dropped from the view then. */
const HEARTBEAT_TTL_MS = 10_000;
const FLEET_PREFIX = 'xnai-reference:fleet:';
const FLEET_CHANNEL = 'xnai-reference:fleet';

/** The facts of one circuit's state data at `now` (store clock). */
export function factsOf(data: CircuitStateData, now: number): CircuitFacts {
  return {
    status: effectiveStatus(data, now),
    state: data.state,
    version: data.version,
    failureCount: data.failureCount,
    successCount: data.successCount,
    openUntil: data.openUntil,
    override: data.override,
    probes: data.probes.filter((probe) => probe.expiresAt > now).length,
  };
}

function isHeartbeat(value: unknown): value is Heartbeat {
  if (typeof value !== 'object' || value === null) return false;
  const beat = value as Partial<Heartbeat>;
  return (
    typeof beat.instanceId === 'string' &&
    typeof beat.sentAt === 'number' &&
    typeof beat.mode === 'string' &&
    typeof beat.circuits === 'object' &&
    beat.circuits !== null
  );
}

/** Options of {@link Fleet}. */
export interface FleetOptions {
  /** A connection to Redis of its own: direct, so the fleet stays visible while the outage switch is on. */
  readonly monitor: RedisConnectionManager;
  readonly keyPrefix: string;
  readonly instanceId: string;
  /** This instance's heartbeat now. */
  readonly heartbeat: () => Heartbeat;
  /** Circuits this instance serves: Redis's state of those is always read. */
  readonly circuitNames: () => readonly string[];
  /** Something in the view changed (a heartbeat or a pushed change arrived). */
  readonly onChange: () => void;
}

/**
 * The fleet as this instance sees it. Each instance writes its heartbeat to a key with a TTL and
 * publishes it on a channel; every instance listens on the channel (and scans the keys every two
 * seconds, for members that started before it or were missed). Redis's own state of each circuit is
 * read on every change Redis announces and every second.
 */
export class Fleet {
  readonly #options: FleetOptions;
  readonly #monitor: RedisConnectionManager;
  readonly #truthStore: RedisStateStore;
  readonly #members = new Map<string, { heartbeat: Heartbeat; receivedAt: number }>();
  readonly #redis = new Map<string, RedisFacts>();
  #redisReadAt: number | null = null;
  readonly #subscriptions: Disposable[] = [];
  #timers: NodeJS.Timeout[] = [];
  #publishQueued = false;
  #closed = false;

  constructor(options: FleetOptions) {
    this.#options = options;
    this.#monitor = options.monitor;
    this.#truthStore = new RedisStateStore({ redis: options.monitor, keyPrefix: options.keyPrefix });
  }

  /** Connects the monitor and starts publishing and listening. */
  async start(): Promise<void> {
    await this.#monitor.connect().catch(() => false);
    const channel = this.#monitor.subscribe(FLEET_CHANNEL, (message) => this.#onMessage(message));
    this.#subscriptions.push(
      toDisposable(() => channel[Symbol.dispose]()),
      this.#truthStore.subscribe((change) => {
        const now = this.#truthStore.clock.now();
        this.#redis.set(change.name, change.state === null ? null : factsOf(change.state, now));
        this.#options.onChange();
      }),
    );
    const every = (ms: number, run: () => Promise<void>) => {
      const timer = setInterval(() => void run().catch(() => undefined), ms);
      timer.unref();
      this.#timers.push(timer);
    };
    every(HEARTBEAT_INTERVAL_MS, () => this.#publish());
    every(HEARTBEAT_INTERVAL_MS, () => this.#readRedis());
    every(2_000, () => this.#scan());
    await Promise.all([this.#publish(), this.#scan(), this.#readRedis()]).catch(() => undefined);
  }

  /** Publishes the heartbeat soon (coalesced): something this instance sees changed. */
  publishSoon(): void {
    if (this.#publishQueued || this.#closed) return;
    this.#publishQueued = true;
    setTimeout(() => {
      this.#publishQueued = false;
      this.#publish().catch(() => undefined);
    }, 20).unref();
  }

  async #publish(): Promise<void> {
    if (this.#closed) return;
    const heartbeat = this.#options.heartbeat();
    const json = JSON.stringify(heartbeat);
    await this.#monitor.execute(async (client) => {
      await client.set(FLEET_PREFIX + heartbeat.instanceId, json, 'PX', HEARTBEAT_TTL_MS);
      await client.publish(FLEET_CHANNEL, json);
    });
  }

  async #scan(): Promise<void> {
    if (this.#closed) return;
    const keys = await this.#monitor.execute(async (client) => {
      const found: string[] = [];
      let cursor = '0';
      do {
        const [next, batch] = await client.scan(cursor, 'MATCH', `${FLEET_PREFIX}*`, 'COUNT', 100);
        cursor = next;
        found.push(...batch);
      } while (cursor !== '0');
      return found;
    });
    if (keys.length === 0) return;
    const values = await this.#monitor.execute((client) => client.mget(...keys));
    for (const value of values) if (value !== null) this.#onMessage(value, true);
  }

  async #readRedis(): Promise<void> {
    if (this.#closed) return;
    const names = new Set(this.#options.circuitNames());
    for (const member of this.#members.values()) {
      for (const name of Object.keys(member.heartbeat.circuits)) names.add(name);
    }
    const read = await Promise.all(
      [...names].map(async (name) => [name, await this.#truthStore.peek(name)] as const),
    );
    const now = this.#truthStore.clock.now();
    for (const [name, stored] of read) {
      this.#redis.set(name, stored === undefined || isTombstone(stored) ? null : factsOf(stored, now));
    }
    this.#redisReadAt = Date.now();
    this.#options.onChange();
  }

  #onMessage(message: string, fromScan = false): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(message);
    } catch {
      return;
    }
    if (typeof parsed === 'object' && parsed !== null && (parsed as { leaving?: unknown }).leaving === true) {
      const id = (parsed as { instanceId?: unknown }).instanceId;
      if (typeof id === 'string' && id !== this.#options.instanceId) this.#members.delete(id);
      this.#options.onChange();
      return;
    }
    if (!isHeartbeat(parsed) || parsed.instanceId === this.#options.instanceId) return;
    const known = this.#members.get(parsed.instanceId);
    // A scan may return an older heartbeat than one already received through the channel.
    if (fromScan && known !== undefined && known.heartbeat.sentAt >= parsed.sentAt) return;
    this.#members.set(parsed.instanceId, { heartbeat: parsed, receivedAt: Date.now() });
    this.#options.onChange();
  }

  /** The fleet view now. */
  view(): FleetView {
    const now = Date.now();
    // This instance's own column is its view now, not as last published.
    const members: FleetMember[] = [
      { heartbeat: this.#options.heartbeat(), ageMs: 0, stale: false, self: true },
    ];
    for (const [id, member] of this.#members) {
      const ageMs = now - member.receivedAt;
      if (ageMs > HEARTBEAT_TTL_MS) {
        this.#members.delete(id);
        continue;
      }
      members.push({ heartbeat: member.heartbeat, ageMs, stale: ageMs > STALE_AFTER_MS, self: false });
    }
    members.sort((a, b) => a.heartbeat.instanceId.localeCompare(b.heartbeat.instanceId));
    const redis = Object.fromEntries(this.#redis);
    const divergent: string[] = [];
    for (const member of members) {
      for (const [name, facts] of Object.entries(member.heartbeat.circuits)) {
        const truth = redis[name];
        if (truth === undefined) continue;
        const differs =
          truth === null
            ? facts.version > 0
            : facts.status !== truth.status || facts.version !== truth.version;
        if (differs) divergent.push(`${member.heartbeat.instanceId}/${name}`);
      }
    }
    return {
      available: true,
      monitorConnected: this.#monitor.isConnected,
      members,
      redis,
      redisReadAt: this.#redisReadAt,
      divergent,
    };
  }

  /** Stops publishing and removes this instance's heartbeat, so the others drop it at once. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers) clearInterval(timer);
    this.#timers = [];
    for (const subscription of this.#subscriptions.splice(0)) subscription.dispose();
    const id = this.#options.instanceId;
    await this.#monitor
      .execute(async (client) => {
        await client.del(FLEET_PREFIX + id);
        await client.publish(FLEET_CHANNEL, JSON.stringify({ instanceId: id, leaving: true }));
      })
      .catch(() => undefined);
    await this.#truthStore.close();
  }
}
