import { describe, expect, it } from 'vitest';
import { createErrorBrand } from './error-brand.js';

describe('createErrorBrand', () => {
  it('recognises errors marked by another brand of the same key (another copy of a package)', () => {
    const ours = createErrorBrand<'A' | 'B'>('@xnai/kit-test/ExampleError');
    const theirs = createErrorBrand<'A' | 'B'>('@xnai/kit-test/ExampleError');
    const error = new Error('boom');
    theirs.mark(error, 'B');
    expect(ours.codeOf(error)).toBe('B');
    expect(Object.keys(error)).toEqual([]);
  });

  it('does not recognise a look-alike, another family, or a non-object', () => {
    const brand = createErrorBrand<'A'>('@xnai/kit-test/ExampleError');
    const other = createErrorBrand<'A'>('@xnai/kit-test/OtherError');
    const lookAlike = Object.assign(new Error('boom'), { name: 'ExampleError', code: 'A' });
    expect(brand.codeOf(lookAlike)).toBeUndefined();
    const foreign = new Error('boom');
    other.mark(foreign, 'A');
    expect(brand.codeOf(foreign)).toBeUndefined();
    expect(brand.codeOf(null)).toBeUndefined();
    expect(brand.codeOf('A')).toBeUndefined();
  });
});
