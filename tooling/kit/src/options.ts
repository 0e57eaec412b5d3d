import { assertKnownKeys, assertObject } from './validation.js';

/** The values of an options object as given, with the defaults filled in, still to be validated. */
export type OptionValues<TDefaults, TKey extends string> = {
  readonly [K in keyof TDefaults | TKey]: unknown;
};

/** Settings of {@link createOptionsReader}. */
export interface OptionsReaderSettings<TKey extends string> {
  /**
   * Options that have no fixed default (required ones, or ones whose default depends on another
   * option); they are known but not in the defaults object.
   * @default []
   */
  readonly extraKeys?: readonly TKey[];
  /**
   * What the options object is called in messages.
   * @default 'options'
   */
  readonly name?: string;
  /**
   * Misspellings users are known to write (a port's names, say), each mapped to the right name.
   * @default {}
   */
  readonly hints?: Readonly<Record<string, string>>;
}

/**
 * The one way an options object is read: against one frozen defaults object per options type.
 * Returns a reader that checks an options object once (an object naming only known options; give
 * `{}` for none) and returns each option's value, the default where the option is absent or
 * `undefined`. Values are returned as given: check each with the `assert*` functions.
 *
 * @throws {TypeError} (from the reader) the options are not an object, or name an unknown option.
 * @example
 * ```ts
 * export const DEFAULT_POOL_OPTIONS = Object.freeze({ size: 10 });
 * const readPoolOptions = createOptionsReader(DEFAULT_POOL_OPTIONS, { extraKeys: ['url'] });
 * const given = readPoolOptions(options);
 * const size = assertInteger('size', given.size, 1);
 * ```
 */
export function createOptionsReader<TDefaults extends object, TKey extends string = never>(
  defaults: TDefaults,
  settings: OptionsReaderSettings<TKey> = {},
): (options: unknown) => OptionValues<TDefaults, TKey> {
  if (!Object.isFrozen(defaults)) throw new TypeError('defaults must be frozen');
  const name = settings.name ?? 'options';
  const defaultKeys = Object.keys(defaults);
  const known: ReadonlySet<string> = new Set([...defaultKeys, ...(settings.extraKeys ?? [])]);
  const hints = settings.hints;
  return (options) => {
    const given = assertObject(name, options);
    assertKnownKeys(name, given, known, hints);
    const values: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
    for (const key of Object.keys(given)) {
      const value = given[key];
      if (value !== undefined) values[key] = value;
    }
    return values as OptionValues<TDefaults, TKey>;
  };
}
