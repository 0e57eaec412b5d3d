import type { RedisManagerError } from './errors/redis-manager-error.js';

/** Why fallback mode was entered. */
export type FallbackReason =
  /** `connect()` used up its three attempts. */
  | 'connect-failed'
  /** A connection closed, was reset or refused. */
  | 'connection-lost'
  /** An operation or probe got no reply within its timeout. */
  | 'timeout'
  /** The server replied READONLY, LOADING or MASTERDOWN. */
  | 'server-unusable'
  /** The server rejected the credentials on a reconnect. */
  | 'authentication-failed'
  /** The periodic health check failed. */
  | 'health-check';

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
