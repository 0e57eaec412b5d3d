import { RedisAuthenticationError } from './errors/redis-authentication-error.js';
import { RedisCommandError } from './errors/redis-command-error.js';
import { RedisManagerError } from './errors/redis-manager-error.js';
import { RedisTimeoutError } from './errors/redis-timeout-error.js';
import { RedisTlsError } from './errors/redis-tls-error.js';
import { RedisUnavailableError } from './errors/redis-unavailable-error.js';
import { redact } from './redact.js';

/** What an error tells about Redis. */
export type ErrorClass =
  /** Redis cannot be used: enter fallback. */
  | 'connection'
  /** Redis answered with an error; the connection is fine. */
  | 'reply'
  /** Not a Redis error at all (thrown by the caller's own code). */
  | 'foreign';

export interface ClassifiedError {
  readonly kind: ErrorClass;
  readonly error: unknown;
}

const CONNECTION_ERRNO = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ERR_SOCKET_CLOSED',
  'ERR_STREAM_DESTROYED',
  'ERR_STREAM_WRITE_AFTER_END',
]);

const CONNECTION_ERROR_NAMES = new Set([
  'MaxRetriesPerRequestError',
  'AbortError',
  'InterruptError',
  'ClusterAllFailedError',
  'ParserError',
]);

const CONNECTION_MESSAGES = [
  'Connection is closed',
  "Stream isn't writeable",
  'Socket timeout',
  'Redis is already connecting',
  'None of startup nodes is available',
  'All sentinels are unreachable',
  'Failed to refresh slots cache',
];

/**
 * Reply prefixes that mean "this server cannot serve us now" rather than "this command is wrong":
 * a replica after failover (READONLY), a server still loading its dataset (LOADING), a replica
 * whose master is down (MASTERDOWN). They count as connection evidence.
 */
/** Node's codes for a server certificate that does not verify. */
const TLS_CERTIFICATE_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_TLS_CERT_ALTNAME_FORMAT',
]);

const UNUSABLE_SERVER_REPLIES = new Set(['READONLY', 'LOADING', 'MASTERDOWN']);
const AUTHENTICATION_REPLIES = new Set(['WRONGPASS', 'NOAUTH']);

/** A copy of a raw error that is safe to expose: redacted message, no command arguments, no stack of ioredis internals. */
export function sanitizeCause(error: unknown, secrets: readonly (string | undefined)[]): Error {
  const source = error as { name?: unknown; message?: unknown; code?: unknown };
  const message = typeof source?.message === 'string' ? source.message : String(error);
  const copy = new Error(redact(message, secrets));
  if (typeof source?.name === 'string') copy.name = source.name;
  if (typeof source?.code === 'string') (copy as Error & { code?: string }).code = source.code;
  return copy;
}

function messageOf(error: unknown): string {
  return typeof (error as { message?: unknown })?.message === 'string' ? (error as Error).message : '';
}

/** Prefix of a Redis error reply (`WRONGTYPE`, `ERR`), or undefined when `error` is no reply error. */
export function replyCodeOf(error: unknown): string | undefined {
  if ((error as { name?: unknown })?.name !== 'ReplyError') return undefined;
  const match = /^([A-Z][A-Z0-9_-]*)\b/.exec(messageOf(error));
  return match?.[1] ?? 'ERR';
}

export function isAuthenticationFailure(error: unknown): boolean {
  const code = replyCodeOf(error);
  return (
    (code !== undefined && AUTHENTICATION_REPLIES.has(code)) || /^ERR invalid password/.test(messageOf(error))
  );
}

/** `certificate` or `protocol` for an error of a TLS handshake, undefined for anything else. */
export function tlsFailureOf(error: unknown): RedisTlsError['failure'] | undefined {
  const code = (error as { code?: unknown })?.code;
  if (typeof code !== 'string') return undefined;
  if (TLS_CERTIFICATE_CODES.has(code)) return 'certificate';
  if (code.startsWith('ERR_SSL_')) return 'protocol';
  return undefined;
}

/**
 * A failure that retrying at once will not fix: the credentials or the TLS setup are wrong. The
 * manager backs off (1 s doubling up to 30 s) instead of reconnecting every few milliseconds.
 */
export function isConfigurationFailure(error: unknown): boolean {
  if (RedisAuthenticationError.isInstance(error) || RedisTlsError.isInstance(error)) return true;
  return isAuthenticationFailure(error) || tlsFailureOf(error) !== undefined;
}

/**
 * Maps whatever an operation rejected with to this package's errors. Raw ioredis errors never come
 * out; errors the caller's own code threw come out unchanged.
 */
export function classifyError(
  error: unknown,
  context: { endpoint: string; secrets: readonly (string | undefined)[] },
): ClassifiedError {
  if (RedisManagerError.isInstance(error)) {
    return { kind: RedisCommandError.isInstance(error) ? 'reply' : 'connection', error };
  }
  const message = redact(messageOf(error), context.secrets);
  const replyCode = replyCodeOf(error);
  if (replyCode !== undefined) {
    if (isAuthenticationFailure(error)) {
      return {
        kind: 'connection',
        error: new RedisAuthenticationError(
          `Redis at ${context.endpoint} rejected the credentials: ${message}`,
        ),
      };
    }
    const commandError = new RedisCommandError(replyCode, message);
    if (UNUSABLE_SERVER_REPLIES.has(replyCode)) {
      return {
        kind: 'connection',
        error: new RedisUnavailableError(
          'server_unusable',
          `Redis at ${context.endpoint} cannot serve commands: ${message}`,
          { cause: commandError },
        ),
      };
    }
    return { kind: 'reply', error: commandError };
  }
  if (message === 'Command timed out') {
    return {
      kind: 'connection',
      error: new RedisTimeoutError(0, `Redis at ${context.endpoint}: command timed out (outcome unknown)`),
    };
  }
  const tlsFailure = tlsFailureOf(error);
  if (tlsFailure !== undefined) {
    const tlsCode = String((error as { code?: unknown }).code);
    const hint =
      tlsFailure === 'certificate'
        ? 'the server certificate is not trusted; check tls.ca and tls.servername'
        : 'the TLS exchange failed; check that the port serves TLS';
    return {
      kind: 'connection',
      error: new RedisTlsError(
        tlsFailure,
        tlsCode,
        `TLS with Redis at ${context.endpoint} failed (${tlsCode}): ${hint}: ${message}`,
        { cause: sanitizeCause(error, context.secrets) },
      ),
    };
  }
  const name = (error as { name?: unknown })?.name;
  const code = (error as { code?: unknown })?.code;
  if (
    (typeof name === 'string' && CONNECTION_ERROR_NAMES.has(name)) ||
    (typeof code === 'string' && CONNECTION_ERRNO.has(code)) ||
    CONNECTION_MESSAGES.some((prefix) => message.startsWith(prefix))
  ) {
    return {
      kind: 'connection',
      error: new RedisUnavailableError(
        'connection_lost',
        `Redis at ${context.endpoint} is unreachable: ${message}`,
        {
          cause: sanitizeCause(error, context.secrets),
        },
      ),
    };
  }
  return { kind: 'foreign', error };
}
