/**
 * Seconds until `retryAt` for a `Retry-After` header: rounded up, at least 1 (a circuit whose open
 * period just ended still asks for one second rather than `0`, which clients read as "now, in a
 * loop"). `null` when there is no time to give (forced open without expiry).
 */
export function retryAfterSeconds(retryAt: number | null, now: number): number | null {
  if (retryAt === null || !Number.isFinite(retryAt)) return null;
  return Math.max(1, Math.ceil((retryAt - now) / 1_000));
}
