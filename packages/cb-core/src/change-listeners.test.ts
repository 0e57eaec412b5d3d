import { captureMicrotaskErrors } from '@xnai/kit/testing';
import { describe, expect, it } from 'vitest';
import { ChangeListeners } from './change-listeners.js';
import { createInitialState } from './circuit-state.js';
import { InvalidCircuitNameError } from './errors/invalid-circuit-name-error.js';
import type { CircuitStateChange } from './store.js';

const change = (name: string): CircuitStateChange => ({
  name,
  version: 1,
  state: createInitialState(0),
  transition: null,
});

describe('ChangeListeners', () => {
  it('delivers to the circuit’s listeners and to those of every circuit, each until disposed', () => {
    const listeners = new ChangeListeners();
    const seen: string[] = [];
    const a1 = listeners.subscribe((c) => seen.push(`a1:${c.name}`), { name: 'a' });
    const a2 = listeners.subscribe((c) => seen.push(`a2:${c.name}`), { name: 'a' });
    const a3 = listeners.subscribe((c) => seen.push(`a3:${c.name}`), { name: 'a' });
    const all = listeners.subscribe((c) => seen.push(`all:${c.name}`));
    listeners.emit(change('a'));
    listeners.emit(change('b'));
    expect(seen).toEqual(['a1:a', 'a2:a', 'a3:a', 'all:a', 'all:b']);
    expect(listeners.names()).toEqual(['a']);

    seen.length = 0;
    a2.dispose();
    a2.dispose();
    listeners.emit(change('a'));
    expect(seen).toEqual(['a1:a', 'a3:a', 'all:a']);
    a1[Symbol.dispose]();
    seen.length = 0;
    listeners.emit(change('a'));
    expect(seen).toEqual(['a3:a', 'all:a']);
    a3.dispose();
    expect(listeners.names()).toEqual([]);
    all.dispose();
    seen.length = 0;
    listeners.emit(change('a'));
    expect(seen).toEqual([]);
  });

  it('delivers to watching receivers as to subscribers, alone or beside them, each until unwatched', () => {
    const listeners = new ChangeListeners();
    const seen: string[] = [];
    const receiver = (label: string) => ({
      receiveChange: (c: CircuitStateChange) => seen.push(`${label}:${c.name}`),
    });
    const r1 = receiver('r1');
    const r2 = receiver('r2');
    listeners.watch('a', r1);
    listeners.emit(change('a'));
    expect(seen).toEqual(['r1:a']);
    const s1 = listeners.subscribe((c) => seen.push(`s1:${c.name}`), { name: 'a' });
    listeners.watch('a', r2);
    listeners.watch('b', r2);
    seen.length = 0;
    listeners.emit(change('a'));
    listeners.emit(change('b'));
    expect(seen).toEqual(['r1:a', 's1:a', 'r2:a', 'r2:b']);
    listeners.unwatch('a', r1);
    listeners.unwatch('a', r1);
    listeners.unwatch('a', receiver('stranger'));
    seen.length = 0;
    listeners.emit(change('a'));
    expect(seen).toEqual(['s1:a', 'r2:a']);
    s1.dispose();
    listeners.unwatch('a', r2);
    expect(listeners.names()).toEqual(['b']);
    listeners.unwatch('b', r2);
    seen.length = 0;
    listeners.emit(change('a'));
    listeners.emit(change('b'));
    expect(seen).toEqual([]);
    expect(listeners.names()).toEqual([]);
    expect(() => listeners.watch('', r1)).toThrow(InvalidCircuitNameError);
    expect(() => listeners.watch('a', {} as never)).toThrow(TypeError);
    expect(() => listeners.watch('a', (() => undefined) as never)).toThrow('receiver must be an object');
    expect(listeners.names()).toEqual([]);
  });

  it('keeps delivering when a listener throws, surfacing the error asynchronously', async () => {
    const listeners = new ChangeListeners();
    const seen: string[] = [];
    listeners.subscribe(
      () => {
        throw new Error('listener bug');
      },
      { name: 'a' },
    );
    listeners.subscribe((c) => seen.push(c.name), { name: 'a' });
    const errors = await captureMicrotaskErrors(() => listeners.emit(change('a')));
    expect(seen).toEqual(['a']);
    expect(errors).toMatchObject([{ message: 'listener bug' }]);
  });

  it('rejects invalid names and listeners, ignores stale removals, and clears', () => {
    const listeners = new ChangeListeners();
    expect(() => listeners.subscribe(() => undefined, { name: '' })).toThrow(InvalidCircuitNameError);
    expect(() => listeners.subscribe('nope' as never, { name: 'a' })).toThrow('listener must be a function');
    const single = listeners.subscribe(() => undefined, { name: 'a' });
    listeners.remove('a', () => undefined);
    listeners.remove('missing', () => undefined);
    expect(listeners.names()).toEqual(['a']);
    listeners.subscribe(() => undefined, { name: 'b' });
    listeners.subscribe(() => undefined, { name: 'b' });
    listeners.remove('b', () => undefined);
    expect(listeners.names()).toEqual(['a', 'b']);
    listeners.clear();
    expect(listeners.names()).toEqual([]);
    single.dispose();
  });
});
