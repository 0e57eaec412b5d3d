import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { METRIC_NAMES } from './names.js';

const directory = resolve(import.meta.dirname, '..');

interface Panel {
  readonly title: string;
  readonly type: string;
  readonly targets?: ReadonlyArray<{ readonly expr: string }>;
}

describe('the Grafana dashboard', () => {
  it('queries only metrics this package registers, and ships in the package', () => {
    const dashboard = JSON.parse(
      readFileSync(resolve(directory, 'dashboards/circuit-breakers.json'), 'utf8'),
    ) as {
      panels: Panel[];
    };
    const known = new Set<string>(Object.values(METRIC_NAMES));
    const used = new Set<string>();
    for (const panel of dashboard.panels) {
      for (const target of panel.targets ?? []) {
        for (const [name] of target.expr.matchAll(
          /\b(?:circuit_breaker_[a-z_]+|redis_connected|fallback_states_active|state_persistence_failures_total)\b/g,
        )) {
          const base = name.replace(/_(bucket|sum|count)$/, '');
          expect(known, `${panel.title}: ${name}`).toContain(base);
          used.add(base);
        }
      }
    }
    // Every metric is on the dashboard.
    expect([...used].sort()).toEqual([...known].filter((name) => name !== METRIC_NAMES.fallbacks).sort());
    const manifest = JSON.parse(readFileSync(resolve(directory, 'package.json'), 'utf8')) as {
      files: string[];
    };
    expect(manifest.files).toContain('dashboards');
  });
});
