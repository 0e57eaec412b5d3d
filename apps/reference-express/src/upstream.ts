import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SimulatedDependency } from './simulation.js';

/**
 * The logical origin of the simulated external API. Every instance calls this origin, so every
 * instance uses one circuit for it (`fetch:http://external-api.internal`), as they would for a real
 * external API; {@link upstreamFetch} sends the requests to this instance's own simulator.
 */
export const EXTERNAL_API_ORIGIN = 'http://external-api.internal';

/** The simulated external API: a real HTTP server on a private loopback port. */
export interface SimulatedUpstream {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Serves `GET /quotes/<symbol>`: `200 { symbol, price }` after the dependency's latency, or `503`
 * when the dependency fails. A request whose client goes away stops waiting.
 */
export async function startSimulatedUpstream(dependency: SimulatedDependency): Promise<SimulatedUpstream> {
  const server: Server = createServer((request, response) => {
    const match = /^\/quotes\/([A-Za-z0-9]{1,12})$/.exec(request.url ?? '');
    if (request.method !== 'GET' || match === null) {
      response.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
      return;
    }
    const symbol = (match[1] ?? '').toUpperCase();
    const gone = new AbortController();
    response.on('close', () => gone.abort());
    dependency
      .call(() => ({ symbol, price: Math.round(10_000 + Math.random() * 5_000) / 100 }), gone.signal)
      .then(
        (quote) => {
          response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(quote));
        },
        () => {
          if (gone.signal.aborted) return;
          response
            .writeHead(503, { 'content-type': 'application/json' })
            .end('{"error":"external API unavailable (simulated)"}');
        },
      );
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A `fetch` that sends requests for {@link EXTERNAL_API_ORIGIN} to `upstreamUrl`, and any other as they are. */
export function upstreamFetch(upstreamUrl: string): typeof fetch {
  return (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.origin !== EXTERNAL_API_ORIGIN) return fetch(input, init);
    const target = new URL(url.pathname + url.search, upstreamUrl);
    return fetch(input instanceof Request ? new Request(target, input) : target, init);
  };
}
