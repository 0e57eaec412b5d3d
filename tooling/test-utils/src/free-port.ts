import { createServer } from 'node:net';

const LOWEST_PORT = 10_000;
// Ports from 32768 up are the kernel's ephemeral range here; a server there can collide with a client socket.
const HIGHEST_PORT = 32_767;

function tryListen(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => {
      server.close(() => resolve(true));
    });
  });
}

/**
 * Finds a TCP port below 32768 that nothing listens on right now.
 * There is a window between this check and the caller's bind, so callers retry on EADDRINUSE.
 */
export async function getFreePort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const port = LOWEST_PORT + Math.floor(Math.random() * (HIGHEST_PORT - LOWEST_PORT));
    if (await tryListen(port, host)) return port;
  }
  throw new Error(`getFreePort: no free port found between ${LOWEST_PORT} and ${HIGHEST_PORT}`);
}
