/**
 * Option checks shared by every package. Messages follow one house style,
 * `<option> must be <rule>, got <value>`: a `TypeError` for a value of the wrong type, a `RangeError`
 * for one out of range, both naming the same rule. Secrets are never echoed.
 */

import type { Clock, TimerProvider } from './clock.js';

/** The longest delay `setTimeout` honours (2^31 - 1 ms); a longer one fires at once. */
export const MAX_TIMER_DELAY_MS = 2_147_483_647;

/**
 * How a value is shown in a message: strings quoted, numbers, booleans, `null`, `undefined` and
 * bigints as written, anything else by its kind (`a function`, `an array`, `an object`), so that a
 * message never dumps an object's contents.
 */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  return 'an object';
}

/** The kind of a value only (`string`, `number`, `null`, `array`...): what a message shows of a secret. */
export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function integerRule(min: number): string {
  if (min === 1) return 'a positive integer';
  if (min === 0) return 'a non-negative integer';
  return `an integer of at least ${min}`;
}

/**
 * Returns `value` when it is an integer within [min, max].
 * @throws {TypeError} `value` is not a number.
 * @throws {RangeError} `value` is not an integer, or out of range.
 */
export function assertInteger(
  name: string,
  value: unknown,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (typeof value !== 'number') {
    throw new TypeError(`${name} must be ${integerRule(min)}, got ${describeValue(value)}`);
  }
  if (!Number.isInteger(value) || value < min) {
    throw new RangeError(`${name} must be ${integerRule(min)}, got ${describeValue(value)}`);
  }
  if (value > max) {
    throw new RangeError(`${name} must be an integer of at most ${max}, got ${describeValue(value)}`);
  }
  return value;
}

/**
 * Returns `value` when it is a finite number in the range; `minExclusive` excludes `min` itself.
 * @throws {TypeError} `value` is not a number.
 * @throws {RangeError} `value` is not finite, or out of range.
 */
export function assertNumber(
  name: string,
  value: unknown,
  min: number,
  max: number,
  minExclusive = false,
): number {
  const lower = minExclusive ? `greater than ${min}` : `at least ${min}`;
  const upper = max === Number.MAX_VALUE ? '' : ` and at most ${max}`;
  const rule = `a finite number ${lower}${upper}`;
  if (typeof value !== 'number') throw new TypeError(`${name} must be ${rule}, got ${describeValue(value)}`);
  const belowMin = minExclusive ? value <= min : value < min;
  if (!Number.isFinite(value) || belowMin || value > max) {
    throw new RangeError(`${name} must be ${rule}, got ${describeValue(value)}`);
  }
  return value;
}

/**
 * Returns `value` when it is a positive number of milliseconds a timer honours (fractions allowed,
 * at most {@link MAX_TIMER_DELAY_MS}).
 * @throws {TypeError} `value` is not a number.
 * @throws {RangeError} `value` is not positive, not finite, or too long for a timer.
 */
export function assertDelayMs(name: string, value: unknown): number {
  const rule = `a positive number of milliseconds up to ${MAX_TIMER_DELAY_MS}`;
  if (typeof value !== 'number') throw new TypeError(`${name} must be ${rule}, got ${describeValue(value)}`);
  if (!Number.isFinite(value) || value <= 0 || value > MAX_TIMER_DELAY_MS) {
    throw new RangeError(`${name} must be ${rule}, got ${describeValue(value)}`);
  }
  return value;
}

/**
 * Returns `value` when it is a boolean.
 * @throws {TypeError} otherwise.
 */
export function assertBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean')
    throw new TypeError(`${name} must be a boolean, got ${describeValue(value)}`);
  return value;
}

/**
 * Returns `value` when it is a non-empty string.
 * @throws {TypeError} `value` is not a string.
 * @throws {RangeError} `value` is empty.
 */
export function assertNonEmptyString(name: string, value: unknown): string {
  if (typeof value !== 'string') {
    throw new TypeError(`${name} must be a non-empty string, got ${describeValue(value)}`);
  }
  if (value.length === 0) throw new RangeError(`${name} must be a non-empty string, got ""`);
  return value;
}

/**
 * Returns `value` when it is a string. For passwords and user names: the message shows only the
 * kind of a wrong value ({@link describeType}), never the value.
 * @throws {TypeError} `value` is not a string.
 */
export function assertSecretString(name: string, value: unknown): string {
  if (typeof value !== 'string') throw new TypeError(`${name} must be a string, got ${describeType(value)}`);
  return value;
}

/**
 * Returns `value` when it is a function.
 * @throws {TypeError} otherwise.
 */
export function assertFunction<T>(name: string, value: unknown): T {
  if (typeof value !== 'function') {
    throw new TypeError(`${name} must be a function, got ${describeValue(value)}`);
  }
  return value as T;
}

/**
 * Returns `value` when it is one of `allowed`.
 * @throws {TypeError} otherwise, listing the allowed values.
 */
export function assertOneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    throw new TypeError(
      `${name} must be one of ${allowed.map((a) => `"${a}"`).join(', ')}, got ${describeValue(value)}`,
    );
  }
  return value as T;
}

/**
 * Returns `value` when it is a plain object (not `null`, not an array).
 * @throws {TypeError} otherwise.
 */
export function assertObject(name: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`${name} must be an object, got ${describeValue(value)}`);
  }
  return value as Record<string, unknown>;
}

/**
 * Rejects option names the interface does not know: a typo must not silently mean a default.
 * `hints` maps names users are known to write (a port's, say) to the right one.
 * @throws {TypeError} `value` has a key not in `known`, naming it (and the hint, if any).
 */
export function assertKnownKeys(
  name: string,
  value: Record<string, unknown>,
  known: ReadonlySet<string>,
  hints?: Readonly<Record<string, string>>,
): void {
  for (const key of Object.keys(value)) {
    if (known.has(key)) continue;
    const hint = hints !== undefined && Object.hasOwn(hints, key) ? hints[key] : undefined;
    throw new TypeError(
      `${name} has an unknown option ${JSON.stringify(key)}${hint === undefined ? '' : ` (did you mean ${hint}?)`}`,
    );
  }
}

/**
 * Returns `value` when it is a {@link Clock} and {@link TimerProvider}: an object with `now`,
 * `setTimeout` and `clearTimeout` functions, and `monotonic` a function when present.
 * @throws {TypeError} otherwise, naming the missing member.
 */
export function assertClock(name: string, value: unknown): Clock & TimerProvider {
  if (typeof value !== 'object' || value === null) {
    throw new TypeError(
      `${name} must be an object with now(), setTimeout() and clearTimeout(), got ${describeValue(value)}`,
    );
  }
  const clock = value as Record<string, unknown>;
  for (const member of ['now', 'setTimeout', 'clearTimeout'])
    assertFunction(`${name}.${member}`, clock[member]);
  if (clock.monotonic !== undefined) assertFunction(`${name}.monotonic`, clock.monotonic);
  return value as Clock & TimerProvider;
}
