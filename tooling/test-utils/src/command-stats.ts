import type { Redis } from 'ioredis';

/**
 * Commands Redis ran since the last `CONFIG RESETSTAT`, by command (INFO commandstats), without the
 * INFO and CONFIG commands a test sends to read them. Redis counts the commands a script runs
 * inside too; {@link commandsSent} and {@link readsMade} take those off.
 */
export async function commandCounts(admin: Redis): Promise<Record<string, number>> {
  const info = await admin.info('commandstats');
  const counts: Record<string, number> = {};
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    const name = match[1] as string;
    if (name !== 'info' && !name.startsWith('config')) counts[name] = Number(match[2]);
  }
  return counts;
}

/** Scripts run (each counts once, whatever it runs inside). */
export function scriptsRun(counts: Readonly<Record<string, number>>): number {
  return (counts.evalsha ?? 0) + (counts.evalsha_ro ?? 0) + (counts.eval ?? 0) + (counts.eval_ro ?? 0);
}

/**
 * Circuit reads made: a read script runs one HGET, a pipelined read is one HGET; every transition
 * script (EVALSHA, EVAL) runs exactly one HGET inside as well, which is not a read.
 */
export function readsMade(counts: Readonly<Record<string, number>>): number {
  return Math.max(0, (counts.hget ?? 0) - (counts.evalsha ?? 0) - (counts.eval ?? 0));
}

/**
 * Commands a circuit-breaker store sent: scripts once each (not what they run inside), plus the
 * HGETs and the TIME of pipelined reads (what is left once every script's own HGET and TIME is
 * taken off), their EXISTS and TYPE, plus PING, SET, GET, PUBLISH and SUBSCRIBE. An upper bound:
 * an EXISTS a script ran inside (a circuit's first write) may be counted as a read's, up to one per
 * read.
 */
export function commandsSent(counts: Readonly<Record<string, number>>): number {
  const scripts = scriptsRun(counts);
  const reads = readsMade(counts);
  // A pipelined read asks EXISTS or TYPE at most once each (a read alone always asks EXISTS); the
  // rest are what scripts ran inside on keys without our field (a circuit's first write).
  const checks = Math.min(counts.exists ?? 0, reads) + Math.min(counts.type ?? 0, reads);
  return ['ping', 'set', 'get', 'publish', 'subscribe'].reduce(
    (sum, name) => sum + (counts[name] ?? 0),
    scripts + Math.max(0, (counts.hget ?? 0) - scripts) + Math.max(0, (counts.time ?? 0) - scripts) + checks,
  );
}
