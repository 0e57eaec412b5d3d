// A service process that creates a registry against a TLS Redis whose certificate it does not trust,
// registers and calls a breaker, and cleans the registry up 20–200 ms later while the handshakes
// fail, ten times. It watches every TLS socket: after each 'error' it emits, and after each
// cleanup(), every socket must still have an 'error' listener (a socket without one crashes the
// process with "Unhandled 'error' event", which is what a registry did here before).
import tls from 'node:tls';
import { createCircuitBreakerRegistry } from '@xnai/cb-registry';

const sockets = new Set();
let errors = 0;
let bare = 0;
const emit = tls.TLSSocket.prototype.emit;
tls.TLSSocket.prototype.emit = function (name, ...args) {
  sockets.add(this);
  const result = emit.call(this, name, ...args);
  if (name === 'error') {
    errors += 1;
    if (this.listenerCount('error') === 0) bare += 1;
  }
  return result;
};

const [url, ca] = process.argv.slice(2);
for (let round = 0; round < 10; round += 1) {
  const registry = await createCircuitBreakerRegistry({ url, tls: { ca } });
  registry.registerCircuitBreaker('tls-round');
  const served = await registry
    .callWithCircuitBreaker('tls-round', async () => 'ok')
    .catch((error) => error.name);
  await new Promise((resolve) => setTimeout(resolve, 20 + Math.random() * 180));
  await registry.cleanup();
  for (const socket of sockets) if (socket.listenerCount('error') === 0) bare += 1;
  process.stdout.write(`round ${round} ${served} ${registry.redis?.fallbackMode}\n`);
}
await new Promise((resolve) => setTimeout(resolve, 50));
process.stdout.write(`summary sockets=${sockets.size} errors=${errors} bare=${bare}\n`);
