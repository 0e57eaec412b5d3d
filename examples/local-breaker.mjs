// A circuit breaker opening and closing again, in one process, with real time.
// Run from the repository root: `pnpm example` (it builds the packages first).
import { CircuitOpenError, createCircuitBreaker } from '@xnai/cb-core';
import { createMemoryStateStore } from '@xnai/cb-store-memory';

const OPEN_TIMEOUT_MS = 500;

const store = createMemoryStateStore();
const breaker = createCircuitBreaker({
  name: 'inventory',
  store,
  failureThreshold: 3,
  successThreshold: 2,
  openTimeoutMs: OPEN_TIMEOUT_MS,
});

breaker.onStateChange(({ name, from, to, reason }) => {
  console.log(`state change: ${name} ${from} -> ${to} (${reason})`);
});

let healthy = false;
async function fetchStock() {
  if (!healthy) throw new Error('inventory service unavailable');
  return { sku: 'A-1', stock: 7 };
}

async function call(label) {
  try {
    const value = await breaker.execute(fetchStock);
    console.log(`${label}: ok ${JSON.stringify(value)}`);
  } catch (error) {
    if (CircuitOpenError.isInstance(error)) {
      const waitMs = error.retryAt === null ? 'unknown' : `${error.retryAt - Date.now()} ms`;
      console.log(
        `${label}: rejected by the breaker (${error.code}, reason ${error.reason}), ` +
          `retryAt ${new Date(error.retryAt ?? 0).toISOString()} (in ${waitMs})`,
      );
    } else {
      console.log(`${label}: failed (${error.message})`);
    }
  }
}

console.log(`breaker "${breaker.name}" starts ${breaker.status}`);
for (let i = 1; i <= 3; i++) await call(`call ${i}`);
await call('call 4');

console.log(`waiting ${OPEN_TIMEOUT_MS + 100} ms for the open period to end; the service recovers`);
await new Promise((resolve) => setTimeout(resolve, OPEN_TIMEOUT_MS + 100));
healthy = true;

await call('call 5');
await call('call 6');
console.log(`breaker "${breaker.name}" ends ${breaker.status}`);

await breaker.close();
await store.close();
