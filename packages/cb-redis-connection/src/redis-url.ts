import { redact } from './redact.js';

/** The parts of a `redis://` or `rediss://` URL. */
export interface ParsedRedisUrl {
  host: string;
  port: number | undefined;
  username: string | undefined;
  password: string | undefined;
  db: number | undefined;
  tls: boolean;
}

function invalid(url: string, why: string): TypeError {
  return new TypeError(`url must be a redis:// or rediss:// URL (${why}), got "${redact(url, [])}"`);
}

/**
 * Parses `redis[s]://[[username][:password]@]host[:port][/db]`; `?db=N` is accepted too.
 * @throws TypeError naming the option when the URL is malformed; the message never shows credentials.
 */
export function parseRedisUrl(url: string): ParsedRedisUrl {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalid(url, 'not a URL');
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw invalid(url, `unsupported scheme "${parsed.protocol.replace(/:$/, '')}"`);
  }
  if (parsed.hostname === '') throw invalid(url, 'no host');
  const port = parsed.port === '' ? undefined : Number(parsed.port);
  const path = parsed.pathname.replace(/^\//, '');
  const dbText = path !== '' ? path : (parsed.searchParams.get('db') ?? '');
  let db: number | undefined;
  if (dbText !== '') {
    if (!/^\d+$/.test(dbText)) throw invalid(url, `database "${dbText}" is not a non-negative integer`);
    db = Number(dbText);
  }
  // IPv6 hosts come bracketed from URL; sockets want them bare.
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  return {
    host,
    port,
    username: parsed.username === '' ? undefined : decodeURIComponent(parsed.username),
    password: parsed.password === '' ? undefined : decodeURIComponent(parsed.password),
    db,
    tls: parsed.protocol === 'rediss:',
  };
}
