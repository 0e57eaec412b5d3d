import { hasCode, RedisManagerError } from './redis-manager-error.js';

/** What went wrong in a TLS handshake with Redis. */
export type RedisTlsFailure =
  /** The server's certificate is not trusted (unknown CA, self-signed, expired, wrong host name). */
  | 'certificate'
  /** The TLS exchange itself failed (e.g. `rediss://` pointed at a plain-text port, an alert from the server). */
  | 'protocol';

/**
 * A TLS handshake with Redis failed. Like a wrong password, this does not heal by itself: the manager
 * stays in fallback mode and retries with a capped backoff (1 s doubling up to 30 s) until the
 * server or the options change. Check `tls.ca`, `tls.servername` and the port.
 */
export class RedisTlsError extends RedisManagerError {
  override readonly name = 'RedisTlsError' as const;
  readonly failure: RedisTlsFailure;
  /** Node's or OpenSSL's code, e.g. `SELF_SIGNED_CERT_IN_CHAIN`, `ERR_SSL_WRONG_VERSION_NUMBER`. */
  readonly tlsCode: string;

  constructor(failure: RedisTlsFailure, tlsCode: string, message: string, options?: { cause?: unknown }) {
    super('ERR_REDIS_TLS', message, options);
    this.failure = failure;
    this.tlsCode = tlsCode;
  }

  static override isInstance(value: unknown): value is RedisTlsError {
    return hasCode(value, 'ERR_REDIS_TLS');
  }
}
