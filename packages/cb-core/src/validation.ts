/** Option checks shared by every package; messages follow `<option> must be <rule>, got <value>`. */

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  return 'an object';
}

/** Throws unless `value` is an integer within [min, max]. */
export function assertInteger(
  name: string,
  value: unknown,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (typeof value !== 'number') throw new TypeError(`${name} must be an integer, got ${describe(value)}`);
  if (!Number.isInteger(value) || value < min) {
    const rule =
      min === 1
        ? 'a positive integer'
        : min === 0
          ? 'a non-negative integer'
          : `an integer of at least ${min}`;
    throw new RangeError(`${name} must be ${rule}, got ${describe(value)}`);
  }
  if (value > max)
    throw new RangeError(`${name} must be an integer of at most ${max}, got ${describe(value)}`);
  return value;
}

/** Throws unless `value` is a finite number in the range; `minExclusive` excludes `min` itself. */
export function assertNumber(
  name: string,
  value: unknown,
  min: number,
  max: number,
  minExclusive = false,
): number {
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number, got ${describe(value)}`);
  const belowMin = minExclusive ? value <= min : value < min;
  if (!Number.isFinite(value) || belowMin || value > max) {
    const lower = minExclusive ? `greater than ${min}` : `at least ${min}`;
    const upper = max === Number.MAX_VALUE ? '' : ` and at most ${max}`;
    throw new RangeError(`${name} must be a finite number ${lower}${upper}, got ${describe(value)}`);
  }
  return value;
}

export function assertFunction<T>(name: string, value: unknown): T {
  if (typeof value !== 'function') throw new TypeError(`${name} must be a function, got ${describe(value)}`);
  return value as T;
}

export function assertOneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    throw new TypeError(
      `${name} must be one of ${allowed.map((a) => `"${a}"`).join(', ')}, got ${describe(value)}`,
    );
  }
  return value as T;
}

export function assertObject(name: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`${name} must be an object, got ${describe(value)}`);
  }
  return value as Record<string, unknown>;
}

/** Rejects option names the interface does not know: a typo must not silently mean a default. */
export function assertKnownKeys(
  name: string,
  value: Record<string, unknown>,
  known: ReadonlySet<string>,
): void {
  for (const key of Object.keys(value)) {
    if (!known.has(key)) throw new TypeError(`${name} has an unknown option ${JSON.stringify(key)}`);
  }
}

export { describe as describeValue };
