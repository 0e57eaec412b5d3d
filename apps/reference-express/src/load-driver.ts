/** Bounds of the load driver: it can never send more than this, nor for longer. */
export const LOAD_LIMITS = Object.freeze({
  maxRatePerSecond: 200,
  maxDurationMs: 10 * 60_000,
  maxInFlight: 32,
  requestTimeoutMs: 5_000,
});

/** What to start the load with. */
export interface LoadSettings {
  /** Requests per second, 1 to 200. @default 20 */
  readonly ratePerSecond?: number;
  /** Stops by itself after this long, 1 s to 10 min. @default 120000 */
  readonly durationMs?: number;
}

/** The load driver's state, as the dashboard shows it. */
export interface LoadStatus {
  readonly running: boolean;
  readonly ratePerSecond: number;
  readonly startedAt: number | null;
  readonly endsAt: number | null;
  readonly sent: number;
  readonly inFlight: number;
  /** Ticks' requests not sent because `maxInFlight` were already waiting. */
  readonly skipped: number;
  /** Answers by HTTP status (`"200"`, `"503"`, ...), and `"error"` for requests that got none. */
  readonly statuses: Readonly<Record<string, number>>;
}

const TICK_MS = 100;

/**
 * @returns the problem with the settings, or `null`.
 */
export function findLoadProblem(input: unknown): string | null {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    return 'the body must be an object';
  for (const [key, value] of Object.entries(input)) {
    if (key !== 'ratePerSecond' && key !== 'durationMs') return `unknown field ${JSON.stringify(key)}`;
    if (typeof value !== 'number' || !Number.isInteger(value)) return `${key} must be an integer`;
  }
  const { ratePerSecond, durationMs } = input as LoadSettings;
  if (ratePerSecond !== undefined && (ratePerSecond < 1 || ratePerSecond > LOAD_LIMITS.maxRatePerSecond)) {
    return `ratePerSecond must be between 1 and ${LOAD_LIMITS.maxRatePerSecond}`;
  }
  if (durationMs !== undefined && (durationMs < 1_000 || durationMs > LOAD_LIMITS.maxDurationMs)) {
    return `durationMs must be between 1000 and ${LOAD_LIMITS.maxDurationMs}`;
  }
  return null;
}

/**
 * Sends requests to this instance's own routes at a steady rate, bounded in rate, in requests
 * waiting at once and in time: it stops by itself, and `stop()` aborts what is in flight.
 */
export class LoadDriver {
  readonly #baseUrl: () => string;
  readonly #paths: readonly (() => string)[];
  readonly #onChange: (status: LoadStatus) => void;
  #timer: NodeJS.Timeout | null = null;
  #abort: AbortController | null = null;
  #ratePerSecond = 0;
  #startedAt: number | null = null;
  #endsAt: number | null = null;
  #sent = 0;
  #inFlight = 0;
  #skipped = 0;
  #credit = 0;
  #statuses: Record<string, number> = {};

  /**
   * @param baseUrl where to send (read at each request: the server's port is known once it listens).
   * @param paths each call gives the path of one request; picked in turn.
   */
  constructor(
    baseUrl: () => string,
    paths: readonly (() => string)[],
    onChange: (status: LoadStatus) => void,
  ) {
    this.#baseUrl = baseUrl;
    this.#paths = paths;
    this.#onChange = onChange;
  }

  get status(): LoadStatus {
    return {
      running: this.#timer !== null,
      ratePerSecond: this.#ratePerSecond,
      startedAt: this.#startedAt,
      endsAt: this.#endsAt,
      sent: this.#sent,
      inFlight: this.#inFlight,
      skipped: this.#skipped,
      statuses: { ...this.#statuses },
    };
  }

  /** Starts (or restarts with new settings) the load. @throws {RangeError} invalid settings. */
  start(settings: LoadSettings = {}): LoadStatus {
    const problem = findLoadProblem(settings);
    if (problem !== null) throw new RangeError(problem);
    this.stop();
    this.#ratePerSecond = settings.ratePerSecond ?? 20;
    this.#startedAt = Date.now();
    this.#endsAt = this.#startedAt + (settings.durationMs ?? 120_000);
    this.#sent = 0;
    this.#skipped = 0;
    this.#credit = 0;
    this.#statuses = {};
    this.#abort = new AbortController();
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
    this.#timer.unref();
    this.#onChange(this.status);
    return this.status;
  }

  /** Stops sending and aborts the requests in flight. Idempotent. */
  stop(): LoadStatus {
    if (this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
      this.#abort?.abort();
      this.#abort = null;
      this.#onChange(this.status);
    }
    return this.status;
  }

  #tick(): void {
    if (this.#endsAt !== null && Date.now() >= this.#endsAt) {
      this.stop();
      return;
    }
    this.#credit += (this.#ratePerSecond * TICK_MS) / 1_000;
    while (this.#credit >= 1) {
      this.#credit -= 1;
      if (this.#inFlight >= LOAD_LIMITS.maxInFlight) {
        this.#skipped += 1;
        continue;
      }
      this.#send();
    }
  }

  #send(): void {
    const abort = this.#abort;
    if (abort === null) return;
    const path = this.#paths[this.#sent % this.#paths.length]?.() ?? '/';
    this.#sent += 1;
    this.#inFlight += 1;
    const signal = AbortSignal.any([abort.signal, AbortSignal.timeout(LOAD_LIMITS.requestTimeoutMs)]);
    const run = async () => {
      try {
        const response = await fetch(new URL(path, this.#baseUrl()), { signal });
        await response.arrayBuffer();
        this.#count(String(response.status));
      } catch {
        if (!abort.signal.aborted) this.#count('error');
      } finally {
        this.#inFlight -= 1;
      }
    };
    void run();
  }

  #count(key: string): void {
    this.#statuses[key] = (this.#statuses[key] ?? 0) + 1;
  }
}
