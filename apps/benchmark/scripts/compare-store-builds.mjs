// Compares the Redis cost of two builds of @xnai/cb-store-redis in one run, against one Redis,
// interleaved round by round (shared machines drift: only figures of one run compare).
//
//   node apps/benchmark/scripts/compare-store-builds.mjs <redis port> <old dist/index.js> <new dist/index.js>
//
// Build the older one in a worktree first, e.g. `git worktree add /tmp/old <commit>` and
// `pnpm install --offline && pnpm turbo run build --filter @xnai/cb-store-redis...` there. Prints,
// per build, the median over 7 rounds of Redis's own time per script (INFO commandstats) for
// record(), acquire() on a closed circuit and getState(), and the round trip of record(), each
// with its ratio to a raw EVALSHA of `return 1` in the same rounds.
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const [port, oldPath, newPath] = process.argv.slice(2);
if (port === undefined || oldPath === undefined || newPath === undefined) {
  console.error('usage: compare-store-builds.mjs <redis port> <old dist/index.js> <new dist/index.js>');
  process.exit(2);
}
const require = createRequire(import.meta.url);
const { Redis } = require('ioredis');
const { resolvePolicy } = await import('@xnai/cb-core');
const builds = {
  old: await import(pathToFileURL(oldPath).href),
  new: await import(pathToFileURL(newPath).href),
};
const client = new Redis({ port: Number(port), host: '127.0.0.1' });
const policy = resolvePolicy({});
const success = [{ kind: 'success' }];
const sha = await client.script('LOAD', 'return 1');

async function serverMicroseconds(task, count) {
  await client.config('RESETSTAT');
  for (let index = 0; index < count; index += 1) await task(index);
  const info = await client.info('commandstats');
  let calls = 0;
  let usec = 0;
  for (const match of info.matchAll(/cmdstat_evalsha(?:_ro)?:calls=(\d+),usec=(\d+)/g)) {
    calls += Number(match[1]);
    usec += Number(match[2]);
  }
  return usec / Math.max(1, calls);
}

async function roundTripMicroseconds(task, count) {
  const started = process.hrtime.bigint();
  for (let index = 0; index < count; index += 1) await task(index);
  return Number(process.hrtime.bigint() - started) / count / 1_000;
}

const stores = Object.fromEntries(
  Object.entries(builds).map(([label, build]) => [
    label,
    new build.RedisStateStore({ redis: client, keyPrefix: `compare-${label}-${Date.now()}:` }),
  ]),
);
const samples = {};
const add = (key, value) => {
  samples[key] ??= [];
  samples[key].push(value);
};
const COUNT = 2_000;
for (let round = 0; round < 7; round += 1) {
  add('raw EVALSHA, server', await serverMicroseconds(() => client.evalsha(sha, 1, 'raw'), COUNT));
  add('raw EVALSHA, round trip', await roundTripMicroseconds(() => client.evalsha(sha, 1, 'raw'), COUNT));
  for (const [label, store] of Object.entries(stores)) {
    add(`${label} record, server`, await serverMicroseconds(() => store.record('c', success, policy), COUNT));
    add(
      `${label} acquire, server`,
      await serverMicroseconds((index) => store.acquire('c', policy, { leaseId: `l${index}` }), COUNT),
    );
    add(`${label} getState, server`, await serverMicroseconds(() => store.getState('c'), COUNT));
    add(
      `${label} record, round trip`,
      await roundTripMicroseconds(() => store.record('c', success, policy), COUNT),
    );
  }
}
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const rawServer = median(samples['raw EVALSHA, server']);
const rawRoundTrip = median(samples['raw EVALSHA, round trip']);
for (const [key, values] of Object.entries(samples)) {
  const value = median(values);
  const ratio = value / (key.endsWith('round trip') ? rawRoundTrip : rawServer);
  console.log(`${key.padEnd(28)} ${value.toFixed(2).padStart(8)} µs  ${ratio.toFixed(2)}x raw EVALSHA`);
}
for (const store of Object.values(stores)) await store.close();
client.disconnect();
