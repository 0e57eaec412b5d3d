// A service process for the multi-process tests: one registry from @xnai/cb-registry (imported by
// the package's own name, so the built package is what runs), driven over IPC.
import { CircuitOpenError } from '@xnai/cb-core';
import { createCircuitBreakerRegistry, monitorFallback, startCleanupLoop } from '@xnai/cb-registry';

const config = JSON.parse(process.argv[2]);
let registry;
const events = [];
const failing = new Set();
const slowMs = new Map();
let driving = null;

function percentile(values, p) {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function protectedCall(name) {
  const delay = slowMs.get(name) ?? 0;
  return (signal) => {
    if (failing.has(name)) return Promise.reject(new Error('dependency down'));
    if (delay === 0) return Promise.resolve('ok');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, delay, 'ok');
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(signal.reason);
      });
    });
  };
}

const handlers = {
  async setup({ registryOptions, circuits }) {
    const started = performance.now();
    registry = await createCircuitBreakerRegistry({ ...config, ...registryOptions });
    const createdMs = performance.now() - started;
    registry.onEvent((event) => {
      events.push({ ...event, seenAt: Date.now() });
    });
    for (const { name, options } of circuits) registry.registerCircuitBreaker(name, options);
    return { createdMs, connected: registry.redis.isConnected };
  },
  async call({ name }) {
    const started = performance.now();
    try {
      const value = await registry.callWithCircuitBreaker(name, protectedCall(name));
      return { outcome: 'ok', value, ms: performance.now() - started };
    } catch (error) {
      return {
        outcome:
          error instanceof CircuitOpenError
            ? 'rejected'
            : error?.message === 'dependency down'
              ? 'failed'
              : 'error',
        error: String(error),
        ms: performance.now() - started,
      };
    }
  },
  async failing({ names, on }) {
    for (const name of names) on ? failing.add(name) : failing.delete(name);
    return {};
  },
  async slow({ name, ms }) {
    slowMs.set(name, ms);
    return {};
  },
  async reset({ name }) {
    await registry.reset(name);
    return {};
  },
  async status() {
    const status = await registry.getRegistryStatus();
    return {
      connected: status.redisStatus.connected,
      fallbackMode: status.redisStatus.fallbackMode,
      fallbackStatus: status.fallbackStatus,
      circuits: status.circuits,
    };
  },
  async events() {
    return { events };
  },
  /** Issues `rate` calls per second spread over `names` until `stop`. */
  async drive({ names, rate }) {
    const stats = {
      calls: 0,
      ok: 0,
      rejected: 0,
      failed: 0,
      errors: [],
      latencies: [],
      maxMs: 0,
      maxAt: 0,
      perCircuit: {},
    };
    for (const name of names) stats.perCircuit[name] = { ok: 0, rejected: 0, failed: 0, error: 0 };
    let index = 0;
    let stopped = false;
    const inFlight = new Set();
    const tickMs = 10;
    let due = 0;
    const startedAt = performance.now();
    const loop = (async () => {
      while (!stopped) {
        const elapsed = performance.now() - startedAt;
        const target = Math.floor((elapsed / 1000) * rate);
        while (due < target) {
          due++;
          const name = names[index++ % names.length];
          const began = performance.now();
          stats.calls++;
          const call = registry.callWithCircuitBreaker(name, protectedCall(name)).then(
            () => {
              stats.ok++;
              stats.perCircuit[name].ok++;
            },
            (error) => {
              if (error instanceof CircuitOpenError) {
                stats.rejected++;
                stats.perCircuit[name].rejected++;
              } else if (error?.message === 'dependency down') {
                stats.failed++;
                stats.perCircuit[name].failed++;
              } else {
                stats.perCircuit[name].error++;
                if (stats.errors.length < 20) stats.errors.push(`${name}: ${String(error)}`);
              }
            },
          );
          const settled = call.finally(() => {
            const ms = performance.now() - began;
            stats.latencies.push(ms);
            if (ms > stats.maxMs) {
              stats.maxMs = ms;
              stats.maxAt = Date.now();
            }
            inFlight.delete(settled);
          });
          inFlight.add(settled);
        }
        await sleep(tickMs);
      }
      await Promise.all(inFlight);
    })();
    driving = {
      async stop() {
        stopped = true;
        await loop;
        const { latencies, ...rest } = stats;
        return {
          ...rest,
          p50Ms: percentile(latencies, 50),
          p99Ms: percentile(latencies, 99),
          durationMs: performance.now() - startedAt,
        };
      },
    };
    return {};
  },
  async stopDriving() {
    const result = await driving.stop();
    driving = null;
    return result;
  },
  /** Cleanup under load: keeps issuing calls (some slow) until cleanup() resolves, then lets go of IPC. */
  async cleanupUnderLoad({ names, rate, loadMs, helpers }) {
    if (helpers) {
      startCleanupLoop(registry, { intervalMs: 100 });
      monitorFallback(registry, { intervalMs: 100, onAlert: () => undefined });
    }
    const calls = [];
    let issuing = true;
    let index = 0;
    const issue = async () => {
      while (issuing) {
        for (let i = 0; i < Math.max(1, Math.round(rate / 100)); i++) {
          const name = names[index++ % names.length];
          calls.push(
            registry.callWithCircuitBreaker(name, protectedCall(name)).then(
              () => 'ok',
              (error) => String(error?.name ?? error),
            ),
          );
        }
        await sleep(10);
      }
    };
    const issuer = issue();
    await sleep(loadMs);
    const inFlightBefore = registry.inFlightCalls;
    const started = performance.now();
    await registry.cleanup();
    const cleanupMs = performance.now() - started;
    issuing = false;
    await issuer;
    const outcomes = await Promise.all(calls);
    const counts = {};
    for (const outcome of outcomes) counts[outcome] = (counts[outcome] ?? 0) + 1;
    return {
      inFlightBefore,
      inFlightAfter: registry.inFlightCalls,
      settled: outcomes.length,
      counts,
      cleanupMs,
    };
  },
  async close() {
    await driving?.stop();
    await registry?.cleanup();
    setImmediate(() => process.disconnect());
    return {};
  },
};

process.on('message', async (message) => {
  const { id, command, ...args } = message;
  try {
    const result = await handlers[command](args);
    process.send({ id, ok: true, result });
    if (command === 'cleanupUnderLoad') {
      // Nothing but the registry was left running: let the IPC channel go and see the process end.
      process.send({ id: -1, ok: true, result: { exitArmedAt: Date.now() } }, () => process.disconnect());
    }
  } catch (error) {
    process.send({ id, ok: false, error: error?.stack ?? String(error) });
  }
});
process.send({ ready: true });
