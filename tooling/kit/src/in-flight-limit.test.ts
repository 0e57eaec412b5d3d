import { describe, expect, it } from 'vitest';
import { InFlightLimit } from './in-flight-limit.js';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('InFlightLimit', () => {
  it('runs at most `limit` tasks at once, the rest in arrival order, and hands each slot on', async () => {
    const limit = new InFlightLimit(3);
    const started: number[] = [];
    const finish: Array<() => void> = [];
    let running = 0;
    let most = 0;
    const results = Array.from({ length: 10 }, (_, index) =>
      limit.run(async () => {
        started.push(index);
        running += 1;
        most = Math.max(most, running);
        await new Promise<void>((resolve) => finish.push(resolve));
        running -= 1;
        return index * 2;
      }),
    );
    await tick();
    expect(started).toEqual([0, 1, 2]);
    expect([limit.active, limit.waiting]).toEqual([3, 7]);
    while (finish.length > 0) {
      finish.shift()?.();
      await tick();
    }
    expect(await Promise.all(results)).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
    expect(started).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(most).toBe(3);
    expect([limit.active, limit.waiting]).toEqual([0, 0]);
  });

  it('frees the slot of a task that throws, and passes the error on', async () => {
    const limit = new InFlightLimit(1);
    const failing = limit.run(() => Promise.reject(new Error('boom')));
    const next = limit.run(async () => 'next');
    await expect(failing).rejects.toThrow('boom');
    await expect(next).resolves.toBe('next');
    expect(limit.active).toBe(0);
  });

  it('starts a waiting task ahead of the queue when its key is expedited, and keeps the limit for the rest', async () => {
    const limit = new InFlightLimit(2);
    const started: string[] = [];
    const finish = new Map<string, () => void>();
    const names = ['a', 'b', 'c', 'd', 'e', 'f'];
    const results = names.map((name) =>
      limit.run(async () => {
        started.push(name);
        await new Promise<void>((resolve) => finish.set(name, resolve));
        return name;
      }, name),
    );
    await tick();
    expect(started).toEqual(['a', 'b']);
    limit.expedite('e');
    limit.expedite('e'); // once started, nothing more
    limit.expedite('zz'); // never queued
    await tick();
    expect(started).toEqual(['a', 'b', 'e']);
    expect([limit.active, limit.waiting]).toEqual([3, 3]);
    // Three run (past the limit of 2): the first to finish frees no slot for the queue.
    finish.get('a')?.();
    await tick();
    expect(started).toEqual(['a', 'b', 'e']);
    finish.get('e')?.();
    await tick();
    expect(started).toEqual(['a', 'b', 'e', 'c']);
    finish.get('b')?.();
    finish.get('c')?.();
    await tick();
    // e's entry in the queue is skipped: f follows d.
    expect(started).toEqual(['a', 'b', 'e', 'c', 'd', 'f']);
    finish.get('d')?.();
    finish.get('f')?.();
    expect(await Promise.all(results)).toEqual(names);
    expect([limit.active, limit.waiting]).toEqual([0, 0]);
  });

  it('expedites every task waiting with a key, and past twice the limit sends the rest first when a slot frees', async () => {
    const limit = new InFlightLimit(1);
    const started: string[] = [];
    const finish = new Map<string, () => void>();
    const names = ['a', 'b1', 'c', 'b2', 'd', 'e'];
    const keyOf = (name: string) => name.slice(0, 1);
    const results = names.map((name) =>
      limit.run(async () => {
        started.push(name);
        await new Promise<void>((resolve) => finish.set(name, resolve));
        return name;
      }, keyOf(name)),
    );
    await tick();
    expect(started).toEqual(['a']);
    // Both tasks keyed b start: one past the limit of 1 is allowed (twice the limit in all)...
    expect(limit.expedite('b')).toBe(2);
    expect(limit.expedite('b')).toBe(0);
    await tick();
    expect(started).toEqual(['a', 'b1']);
    expect([limit.active, limit.waiting]).toEqual([2, 4]);
    // ...the second waits ahead of the queue, as does a later expedited one.
    expect(limit.expedite('e')).toBe(1);
    finish.get('a')?.();
    await tick();
    expect(started).toEqual(['a', 'b1', 'b2']);
    finish.get('b1')?.();
    await tick();
    expect(started).toEqual(['a', 'b1', 'b2', 'e']);
    finish.get('b2')?.();
    finish.get('e')?.();
    await tick();
    await tick();
    expect(started).toEqual(['a', 'b1', 'b2', 'e', 'c']);
    finish.get('c')?.();
    await tick();
    finish.get('d')?.();
    expect(await Promise.all(results)).toEqual(names);
    expect([limit.active, limit.waiting]).toEqual([0, 0]);
  });

  it('rejects a limit that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => new InFlightLimit(bad)).toThrow(RangeError);
  });
});
