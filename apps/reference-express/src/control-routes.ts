import express, { type RequestHandler, type Router } from 'express';
import { errorBody } from './error-body.js';
import { findLoadProblem, type LoadDriver, type LoadSettings } from './load-driver.js';
import type { OutageMode, OutageSwitch } from './outage-switch.js';
import {
  DEPENDENCY_NAMES,
  type DependencyName,
  findBehaviourProblem,
  type SimulatedDependency,
} from './simulation.js';
import type { Timeline } from './timeline.js';

/**
 * The controls of the dashboard, every one behind `guarded`: the simulated dependencies' behaviour,
 * the load driver, the outage switch. Each change goes on the timeline.
 */
export function createControlRoutes(options: {
  readonly guarded: RequestHandler;
  readonly dependencies: Readonly<Record<DependencyName, SimulatedDependency>>;
  readonly load: LoadDriver;
  /** `null`: memory only, or a `rediss://` URL. */
  readonly outage: OutageSwitch | null;
  readonly memoryOnly: boolean;
  readonly timeline: Timeline;
  readonly changed: () => void;
}): Router {
  const { guarded, dependencies, load, outage, timeline, changed } = options;
  const json = express.json({ limit: '16kb' });
  const router = express.Router();

  router.post('/admin/dependencies/:name', guarded, json, (request, response) => {
    const name = String(request.params.name) as DependencyName;
    const dependency = (DEPENDENCY_NAMES as readonly string[]).includes(name)
      ? dependencies[name]
      : undefined;
    if (dependency === undefined) {
      response
        .status(404)
        .json(errorBody('UNKNOWN_DEPENDENCY', `dependencies are ${DEPENDENCY_NAMES.join(', ')}`));
      return;
    }
    const problem = findBehaviourProblem(request.body ?? {});
    if (problem !== null) {
      response.status(400).json(errorBody('INVALID_BODY', problem));
      return;
    }
    const behaviour = dependency.configure(request.body ?? {});
    timeline.add(
      'simulation',
      `${name}: failure rate ${Math.round(behaviour.failureRate * 100)}%, latency ${behaviour.latencyMs} ms (+${behaviour.jitterMs} ms)`,
      { dependency: name, ...behaviour },
    );
    response.json({ name, ...behaviour });
  });

  router.post('/admin/load/start', guarded, json, (request, response) => {
    const body = request.body ?? {};
    const problem = findLoadProblem(body);
    if (problem !== null) {
      response.status(400).json(errorBody('INVALID_BODY', problem));
      return;
    }
    const status = load.start(body as LoadSettings);
    timeline.add('load', `load started: ${status.ratePerSecond} requests/s`, {
      ratePerSecond: status.ratePerSecond,
      endsAt: status.endsAt,
    });
    response.json(status);
  });
  router.post('/admin/load/stop', guarded, (_request, response) => {
    const wasRunning = load.status.running;
    const status = load.stop();
    if (wasRunning) timeline.add('load', `load stopped after ${status.sent} requests`, { sent: status.sent });
    response.json(status);
  });

  router.post('/admin/outage', guarded, json, (request, response) => {
    const body = (request.body ?? {}) as { active?: unknown; mode?: unknown };
    const extra = Object.keys(body).find((key) => key !== 'active' && key !== 'mode');
    if (typeof body.active !== 'boolean' || extra !== undefined) {
      response
        .status(400)
        .json(errorBody('INVALID_BODY', 'the body is { active: boolean, mode?: "reset" | "blackhole" }'));
      return;
    }
    if (body.mode !== undefined && body.mode !== 'reset' && body.mode !== 'blackhole') {
      response.status(400).json(errorBody('INVALID_BODY', 'mode must be "reset" or "blackhole"'));
      return;
    }
    if (outage === null) {
      response
        .status(409)
        .json(
          errorBody(
            'NO_OUTAGE_SWITCH',
            options.memoryOnly
              ? 'memory only: there is no Redis to cut off (set REDIS_URL)'
              : 'the outage switch needs a redis:// URL (a TCP proxy cannot stand in front of TLS)',
          ),
        );
      return;
    }
    const before = outage.status.active;
    const status = outage.set(body.active, body.mode as OutageMode | undefined);
    if (before !== status.active) {
      timeline.add(
        'outage',
        status.active
          ? `outage switch on (${status.mode}): this instance is cut off from Redis`
          : 'outage switch off: Redis reachable again',
        { active: status.active, mode: status.mode },
      );
    }
    changed();
    response.json(status);
  });

  return router;
}
