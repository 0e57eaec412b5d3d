// A breaker process for the multi-process tests. It takes commands over IPC and answers with
// results; every breaker it holds runs on a RedisStateStore over its own ioredis connection.
import { CircuitOpenError, createCircuitBreaker } from '@xnai/cb-core';
import { RedisStateStore } from '@xnai/cb-store-redis';
import { Redis } from 'ioredis';

const { url, keyPrefix, clockOffsetMs = 0 } = JSON.parse(process.argv[2]);
const clock = {
  now: () => Date.now() + clockOffsetMs,
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (handle) => clearTimeout(handle),
};
const client = new Redis(url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 });
await client.connect();
const store = new RedisStateStore({ redis: client, keyPrefix, clock, operationTimeoutMs: 2_000 });
const breakers = new Map();

async function breaker(name, options) {
  let entry = breakers.get(name);
  if (entry === undefined) {
    entry = createCircuitBreaker({ name, store, clock, ...options });
    breakers.set(name, entry);
    // Load the view and subscribe before reporting ready.
    await entry.refresh();
    await store.whenSubscribed();
  }
  return entry;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const handlers = {
  async prepare({ name, options }) {
    await breaker(name, options);
    return {};
  },
  async fail({ name, options, count }) {
    const b = await breaker(name, options);
    let rejected = 0;
    let failed = 0;
    await Promise.all(
      Array.from({ length: count }, () =>
        b
          .execute(() => Promise.reject(new Error('dependency down')))
          .catch((error) => {
            if (error instanceof CircuitOpenError) rejected++;
            else failed++;
          }),
      ),
    );
    await b.flush();
    return { rejected, failed };
  },
  async trip({ name, options }) {
    const b = await breaker(name, options);
    const trippedAt = Date.now();
    await b.execute(() => Promise.reject(new Error('dependency down'))).catch(() => undefined);
    await b.flush();
    return { trippedAt };
  },
  async watch({ name, options, status }) {
    const b = await breaker(name, options);
    if (b.status === status) return { seenAt: Date.now(), already: true };
    return new Promise((resolve) => {
      const subscription = b.onStateChange((event) => {
        if (event.to !== status) return;
        subscription.dispose();
        resolve({ seenAt: Date.now(), already: false });
      });
    });
  },
  async probe({ name, options, concurrency, holdMs, outcome }) {
    const b = await breaker(name, options);
    const spans = [];
    let rejected = 0;
    await Promise.all(
      Array.from({ length: concurrency }, () =>
        b
          .execute(async () => {
            // What this instance knew when it ran the call: told apart when the fleet over-probes.
            const span = {
              start: Date.now(),
              end: 0,
              pid: process.pid,
              status: b.status,
              round: b.stateData.halfOpenRound,
            };
            spans.push(span);
            await sleep(holdMs);
            span.end = Date.now();
            if (outcome === 'failure') throw new Error('still down');
            return 'ok';
          })
          .catch((error) => {
            if (error instanceof CircuitOpenError) rejected++;
          }),
      ),
    );
    await b.flush();
    return { spans, rejected };
  },
  async pollUntilAdmitted({ name, options, intervalMs, timeoutMs }) {
    const b = await breaker(name, options);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const attemptAt = Date.now();
      const admitted = await b.execute(() => true).catch(() => false);
      if (admitted) return { admittedAt: attemptAt };
      await sleep(intervalMs);
    }
    return { admittedAt: null };
  },
  async close() {
    for (const b of breakers.values()) await b.close();
    await store.close();
    client.disconnect();
    setImmediate(() => process.disconnect());
    return {};
  },
};

process.on('message', async (message) => {
  try {
    const result = await handlers[message.command](message);
    process.send({ id: message.id, ok: true, result });
  } catch (error) {
    process.send({ id: message.id, ok: false, error: String(error?.stack ?? error) });
  }
});
process.send({ ready: true });
