import type { Request, Response } from 'express';

/**
 * Server-sent events for the dashboard: every client gets the whole snapshot every second and soon
 * after anything changes (changes within 25 ms are sent as one).
 */
export class LiveUpdates {
  readonly #clients = new Set<Response>();
  readonly #snapshot: () => Promise<unknown>;
  #timer: NodeJS.Timeout | null = null;
  #queued: NodeJS.Timeout | null = null;
  #closed = false;

  #sending = false;

  constructor(snapshot: () => Promise<unknown>, intervalMs = 1_000) {
    this.#snapshot = snapshot;
    this.#timer = setInterval(() => this.#send(), intervalMs);
    this.#timer.unref();
  }

  get clientCount(): number {
    return this.#clients.size;
  }

  /** `GET` handler of the event stream. */
  handle = (request: Request, response: Response): void => {
    if (this.#closed) {
      response.status(503).end();
      return;
    }
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      // Proxies such as nginx buffer responses unless told not to.
      'x-accel-buffering': 'no',
    });
    response.write('retry: 1000\n\n');
    this.#clients.add(response);
    request.on('close', () => this.#clients.delete(response));
    this.#snapshot().then(
      (snapshot) => {
        if (this.#clients.has(response)) this.#write(response, JSON.stringify(snapshot));
      },
      () => undefined,
    );
  };

  /** Something changed: send a snapshot soon. */
  changed(): void {
    if (this.#queued !== null || this.#closed || this.#clients.size === 0) return;
    this.#queued = setTimeout(() => {
      this.#queued = null;
      this.#send();
    }, 25);
    this.#queued.unref();
  }

  #send(): void {
    if (this.#clients.size === 0) return;
    // One snapshot at a time; a change while one is built is sent by the next.
    if (this.#sending) {
      this.changed();
      return;
    }
    this.#sending = true;
    this.#snapshot()
      .then(
        (snapshot) => {
          const json = JSON.stringify(snapshot);
          for (const client of this.#clients) this.#write(client, json);
        },
        () => undefined,
      )
      .finally(() => {
        this.#sending = false;
      });
  }

  #write(client: Response, json: string): void {
    client.write(`event: snapshot\ndata: ${json}\n\n`);
  }

  /** Ends every stream and stops the timers. Idempotent. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    if (this.#queued !== null) clearTimeout(this.#queued);
    this.#timer = null;
    this.#queued = null;
    for (const client of this.#clients) client.end();
    this.#clients.clear();
  }
}
