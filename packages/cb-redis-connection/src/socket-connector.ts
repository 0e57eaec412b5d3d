import { type Socket, connect as tcpConnect } from 'node:net';
import { type ConnectionOptions as TlsConnectionOptions, connect as tlsConnect } from 'node:tls';
import { AbstractConnector, type SentinelConnectionOptions, SentinelConnector } from 'ioredis';

type ConnectorConstructor = new (options: unknown) => AbstractConnector;
type ErrorEmitter = (type: string, error: Error) => void;

/**
 * The sockets of one connection. Every socket it adopts keeps an 'error' listener for as long as it
 * exists: ioredis listens with `once`, and a TLS socket can emit a second error (an alert from the
 * server while it is torn down), which would otherwise crash the process as an unhandled 'error'.
 */
export class SocketGuard {
  #current: Socket | undefined;
  #closed: Promise<void> = Promise.resolve();

  adopt(socket: Socket): void {
    // Never removed: errors after the first, or after disconnect, land here and are dropped; ioredis
    // has already reported the first one.
    socket.on('error', ignoreSocketError);
    this.#current = socket;
    this.#closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  }

  /**
   * Destroys the current socket at once (no FIN handshake with a server that may never answer) and
   * resolves once it has closed.
   */
  destroy(): Promise<void> {
    const socket = this.#current;
    this.#current = undefined;
    if (socket === undefined) return Promise.resolve();
    if (!socket.destroyed) socket.destroy();
    return this.#closed;
  }

  /** Resolves once the last adopted socket has closed. */
  closed(): Promise<void> {
    return this.#closed;
  }
}

function ignoreSocketError(): void {}

interface StandaloneOptions {
  host?: string | undefined;
  port?: number | undefined;
  tls?: TlsConnectionOptions | undefined;
  disconnectTimeout?: number | undefined;
}

/**
 * An ioredis `Connector` for one connection: opens the TCP or TLS socket as ioredis's own standalone
 * (or Sentinel) connector does, hands it to `guard`, and on disconnect destroys it at once instead of
 * ending it and waiting up to `disconnectTimeout` for a server that cannot answer.
 */
export function guardedConnector(guard: SocketGuard, sentinel: boolean): ConnectorConstructor {
  if (sentinel) {
    return class GuardedSentinelConnector extends SentinelConnector {
      constructor(options: SentinelConnectionOptions) {
        super(options);
      }

      override connect(eventEmitter: ErrorEmitter) {
        return super.connect(eventEmitter).then((stream) => {
          guard.adopt(stream);
          return stream;
        });
      }

      override disconnect(): void {
        super.disconnect();
        void guard.destroy();
      }
    } as unknown as ConnectorConstructor;
  }
  return class GuardedStandaloneConnector extends AbstractConnector {
    readonly #options: StandaloneOptions;

    constructor(options: StandaloneOptions) {
      super(options.disconnectTimeout ?? 0);
      this.#options = options;
    }

    override connect(_eventEmitter: ErrorEmitter) {
      const { host, port, tls } = this.#options;
      this.connecting = true;
      // As ioredis does: create the socket on the next tick, so that a disconnect() in between wins.
      return new Promise<Socket>((resolve, reject) => {
        process.nextTick(() => {
          if (!this.connecting) {
            reject(new Error('Connection is closed.'));
            return;
          }
          let socket: Socket;
          try {
            socket =
              tls === undefined
                ? tcpConnect({ host: host ?? 'localhost', port: port ?? 6379 })
                : tlsConnect({ host: host ?? 'localhost', port: port ?? 6379, ...tls });
          } catch (error) {
            reject(error);
            return;
          }
          guard.adopt(socket);
          socket.once('error', (error) => {
            this.firstError = error;
          });
          this.stream = socket;
          resolve(socket);
        });
      });
    }

    override disconnect(): void {
      this.connecting = false;
      void guard.destroy();
    }
  } as unknown as ConnectorConstructor;
}
