import { describe, expect, it } from 'vitest';
import { createOptionsReader } from './options.js';

const DEFAULTS = Object.freeze({ size: 10, name: 'pool' as string, onError: null });

describe('createOptionsReader', () => {
  const read = createOptionsReader(DEFAULTS, { extraKeys: ['url'], hints: { max_size: 'size' } });

  it('fills in the defaults where an option is absent or undefined', () => {
    expect(read({})).toEqual({ size: 10, name: 'pool', onError: null });
    expect(read({ size: 3, name: undefined, url: 'x' })).toEqual({
      size: 3,
      name: 'pool',
      onError: null,
      url: 'x',
    });
    expect(read({ onError: null })).toMatchObject({ onError: null });
  });

  it('rejects what is not an options object, and unknown options with a hint when there is one', () => {
    expect(() => read(undefined)).toThrow(new TypeError('options must be an object, got undefined'));
    expect(() => read(5)).toThrow(new TypeError('options must be an object, got 5'));
    expect(() => read([])).toThrow(new TypeError('options must be an object, got an array'));
    expect(() => read({ sise: 1 })).toThrow(new TypeError('options has an unknown option "sise"'));
    expect(() => read({ max_size: 1 })).toThrow(
      new TypeError('options has an unknown option "max_size" (did you mean size?)'),
    );
    expect(() => read({ toString: 1 })).toThrow('unknown option "toString"');
  });

  it('names the options object as told, and takes only frozen defaults', () => {
    const readOverride = createOptionsReader(Object.freeze({ reason: null }), { name: 'override options' });
    expect(() => readOverride({ until: 1 })).toThrow('override options has an unknown option "until"');
    expect(() => createOptionsReader({ size: 1 })).toThrow('defaults must be frozen');
  });
});
