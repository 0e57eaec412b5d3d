import { InvalidCircuitNameError } from './errors/invalid-circuit-name-error.js';

/** Longest circuit name, in UTF-8 bytes. */
export const MAX_CIRCUIT_NAME_BYTES = 256;

const encoder = new TextEncoder();
// C0 and C1 control characters, and DEL.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// In a `u` pattern a surrogate pair is one code point, so only lone surrogates are of category Cs.
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * Returns `name` when it is a valid circuit name: a non-empty, well-formed string of at most 256
 * UTF-8 bytes without control characters. Names are used verbatim in store keys and event payloads.
 * @throws {InvalidCircuitNameError} otherwise.
 */
export function validateCircuitName(name: unknown): string {
  if (typeof name !== 'string') {
    throw new InvalidCircuitNameError(
      `circuit name must be a string, got ${name === null ? 'null' : typeof name}`,
    );
  }
  if (name.length === 0) throw new InvalidCircuitNameError('circuit name must not be empty');
  // Cheap bound first: a UTF-16 code unit is at most 3 UTF-8 bytes.
  if (name.length * 3 > MAX_CIRCUIT_NAME_BYTES) {
    const bytes = encoder.encode(name).length;
    if (bytes > MAX_CIRCUIT_NAME_BYTES) {
      throw new InvalidCircuitNameError(
        `circuit name must be at most ${MAX_CIRCUIT_NAME_BYTES} bytes of UTF-8, got ${bytes} bytes`,
      );
    }
  }
  if (LONE_SURROGATE.test(name)) {
    // A lone surrogate has no UTF-8 form: two such names would share one store key.
    throw new InvalidCircuitNameError('circuit name must be well-formed UTF-16 (no lone surrogates)');
  }
  const control = CONTROL.exec(name);
  if (control !== null) {
    const code = control[0].charCodeAt(0).toString(16).padStart(4, '0');
    throw new InvalidCircuitNameError(
      `circuit name must not contain control characters, got U+${code} at index ${control.index}`,
    );
  }
  return name;
}
