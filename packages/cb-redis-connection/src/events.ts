import type { RedisAuthenticationError } from './errors/redis-authentication-error.js';
import type { RedisManagerError } from './errors/redis-manager-error.js';

/** Why fallback mode was entered. */
export type FallbackReason =
  /** `connect()` used up its three attempts. */
  | 'connect_failed'
  /** A connection closed, was reset or refused. */
  | 'connection_lost'
  /** An operation or probe got no reply within its timeout. */
  | 'timeout'
  /** The server replied READONLY, LOADING or MASTERDOWN. */
  | 'server_unusable'
  /** The server rejected the credentials (on `connect()` or on a reconnect). */
  | 'authentication_failed'
  /** The TLS handshake failed: untrusted certificate, or no TLS on that port. */
  | 'tls_failed'
  /** The periodic health check failed. */
  | 'health_check';

/** Payload of {@link RedisConnectionManager.onFallbackEntered}. */
export interface FallbackEnteredEvent {
  reason: FallbackReason;
  /** The evidence, redacted. */
  error: RedisManagerError;
  /** Epoch milliseconds. */
  at: number;
}

/** Payload of {@link RedisConnectionManager.onRecovered}. */
export interface RecoveredEvent {
  /** How long fallback mode lasted. */
  fallbackDurationMs: number;
  at: number;
}

/** Payload of {@link RedisConnectionManager.onError}. */
export interface ConnectionErrorEvent {
  /** Redacted; raw ioredis errors are never passed on. */
  error: RedisManagerError;
  at: number;
}

/** Payload of {@link RedisConnectionManager.onReconnected}: the subscriber connection is back and resubscribed. */
export interface SubscriberReconnectedEvent {
  /** Channels subscribed again; messages published while the subscriber was away are lost. */
  channels: string[];
  at: number;
}

/**
 * Payload of {@link RedisConnectionManager.onAuthenticationFailed}: Redis started refusing the
 * credentials. The manager keeps retrying (1 s doubling up to 30 s) until they are accepted.
 */
export interface AuthenticationFailedEvent {
  /** Redacted: never contains the password or user name. */
  error: RedisAuthenticationError;
  at: number;
}
