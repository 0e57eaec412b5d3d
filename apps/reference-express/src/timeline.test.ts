import { RedisAuthenticationError } from '@xnai/cb-redis-connection';
import { describe, expect, it } from 'vitest';
import { Timeline } from './timeline.js';

describe('Timeline', () => {
  it('shows refused credentials by their code, never the password', () => {
    const timeline = new Timeline({ now: () => 1_000 });
    timeline.addRegistryEvent({
      type: 'authentication_failed',
      error: new RedisAuthenticationError('WRONGPASS invalid username-password pair'),
      at: 1_000,
    });
    const [entry] = timeline.entries();
    expect(entry).toMatchObject({
      kind: 'fallback',
      at: 1_000,
      details: { code: 'ERR_REDIS_AUTHENTICATION' },
    });
    expect(entry?.text).toContain('refused the credentials');
    expect(entry?.text).not.toContain('WRONGPASS');
  });

  it('keeps the last entries only and numbers them', () => {
    const timeline = new Timeline({ limit: 2 });
    timeline.add('start', 'a');
    timeline.add('load', 'b');
    timeline.add('load', 'c');
    expect(timeline.entries().map((entry) => [entry.id, entry.text])).toEqual([
      [2, 'b'],
      [3, 'c'],
    ]);
  });
});
