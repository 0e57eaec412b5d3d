import { withCircuitBreaker } from '@xnai/cb-express';
import type { CircuitBreakerFetch } from '@xnai/cb-fetch';
import { type CircuitBreakerRegistry, callWithTieredFallback, type FallbackTier } from '@xnai/cb-registry';
import express, { type Response, type Router } from 'express';
import { CACHE_CIRCUIT, DATABASE_CIRCUIT } from './circuits.js';
import { errorBody } from './error-body.js';
import type { DependencyName, SimulatedDependency } from './simulation.js';
import { EXTERNAL_API_ORIGIN } from './upstream.js';

const PRODUCT_NAMES = ['kettle', 'teapot', 'mug', 'saucer', 'spoon', 'tray', 'strainer', 'cosy'];
/** The in-process tier of the catalogue keeps the last answers of this many products. */
const MEMORY_CACHE_SIZE = 20;

interface Product {
  readonly id: string;
  readonly name: string;
  readonly price: number;
}

/** An AbortSignal that aborts when the client goes away before the answer is sent. */
function clientSignal(response: Response): AbortSignal {
  const controller = new AbortController();
  response.once('close', () => {
    if (!response.writableFinished) controller.abort(new Error('the client went away'));
  });
  return controller.signal;
}

/**
 * The protected data routes: orders (the database through its circuit), products (the tiered
 * fallback), quotes (`@xnai/cb-fetch` against the simulated external API). Errors go to `next`:
 * rejections to `circuitBreakerErrorHandler` (`503` + `Retry-After`), the rest to the app's handler.
 */
export function createDataRoutes(options: {
  readonly registry: CircuitBreakerRegistry;
  readonly dependencies: Readonly<Record<DependencyName, SimulatedDependency>>;
  readonly fetchWithBreaker: CircuitBreakerFetch;
}): Router {
  const { registry, dependencies, fetchWithBreaker } = options;
  const products = new Map<string, Product>();
  const cacheStore = new Map<string, Product>();
  const memoryCache = new Map<string, Product>();
  const router = express.Router();

  router.get(
    '/api/orders/:id',
    withCircuitBreaker(registry, DATABASE_CIRCUIT, async (request, response, signal) => {
      const id = String(request.params.id);
      const order = await dependencies.database.call(
        () => ({ id, status: 'shipped', items: 1 + (id.length % 3), total: 42.5 }),
        signal,
      );
      response.json({ order, source: 'database' });
    }),
  );

  router.get('/api/products/:id', (request, response, next) => {
    const id = String(request.params.id);
    const signal = clientSignal(response);
    let source: 'database' | FallbackTier = 'database';
    callWithTieredFallback(
      registry,
      DATABASE_CIRCUIT,
      (callSignal) =>
        dependencies.database.call(() => {
          let product = products.get(id);
          if (product === undefined) {
            const name = PRODUCT_NAMES[Number.parseInt(id, 10) % PRODUCT_NAMES.length] ?? 'kettle';
            product = { id, name, price: 5 + ((id.length * 7) % 40) };
            products.set(id, product);
          }
          return product;
        }, callSignal),
      {
        memoryCache: () => memoryCache.get(id),
        staleData: () =>
          registry.callWithCircuitBreaker(CACHE_CIRCUIT, (cacheSignal) =>
            dependencies.cache.call(() => cacheStore.get(id), cacheSignal),
          ),
        minimalResponse: { id, name: 'unavailable', price: 0 },
        onFallback: ({ tier }) => {
          source = tier;
        },
      },
      { signal },
    ).then((product) => {
      if (source === 'database') {
        memoryCache.delete(id);
        memoryCache.set(id, product);
        if (memoryCache.size > MEMORY_CACHE_SIZE) memoryCache.delete(memoryCache.keys().next().value ?? '');
        cacheStore.set(id, product);
      }
      response.json({ product, source, degraded: source !== 'database' });
    }, next);
  });

  router.get('/api/quotes/:symbol', (request, response, next) => {
    const symbol = String(request.params.symbol);
    if (!/^[A-Za-z0-9]{1,12}$/.test(symbol)) {
      response.status(400).json(errorBody('INVALID_SYMBOL', 'a symbol is 1-12 letters or digits'));
      return;
    }
    fetchWithBreaker(`${EXTERNAL_API_ORIGIN}/quotes/${symbol}`, { signal: clientSignal(response) }).then(
      async (upstreamResponse) => {
        if (!upstreamResponse.ok) {
          await upstreamResponse.arrayBuffer();
          response
            .status(502)
            .json(errorBody('UPSTREAM_FAILED', `the external API answered ${upstreamResponse.status}`));
          return;
        }
        response.json({ quote: await upstreamResponse.json(), source: 'externalApi' });
      },
      next,
    );
  });

  return router;
}
