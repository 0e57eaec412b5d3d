/** Exhaustiveness check for `switch` over a union: unreachable when every member is handled. */
export function assertNever(value: never): never {
  throw new TypeError(`Unexpected value: ${JSON.stringify(value)}`);
}
