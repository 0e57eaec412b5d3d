/**
 * Milliseconds a `Retry-After` header asks to wait: delta-seconds (`120`) or an HTTP-date; `null`
 * when absent, malformed or not in the future.
 */
export function parseRetryAfter(value: string | null, now: number): number | null {
  if (value === null) return null;
  const text = value.trim();
  if (/^\d+$/.test(text)) {
    const seconds = Number(text);
    return seconds > 0 && Number.isSafeInteger(seconds * 1_000) ? seconds * 1_000 : null;
  }
  const date = Date.parse(text);
  if (Number.isNaN(date)) return null;
  const delay = date - now;
  return delay > 0 ? Math.ceil(delay) : null;
}
