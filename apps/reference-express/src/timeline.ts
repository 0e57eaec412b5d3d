import type { RegistryEvent } from '@xnai/cb-registry';

/** What an entry of the timeline is about. */
export type TimelineKind =
  | 'start'
  | 'fallback'
  | 'recovered'
  | 'reconciled'
  | 'state'
  | 'operator'
  | 'outage'
  | 'simulation'
  | 'load';

/** One line of the dashboard's timeline. */
export interface TimelineEntry {
  /** Grows by one per entry: the dashboard keys rows by it. */
  readonly id: number;
  /** Epoch ms. */
  readonly at: number;
  readonly kind: TimelineKind;
  readonly text: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

/** The last `limit` things that happened to this instance, newest last. */
export class Timeline {
  readonly #entries: TimelineEntry[] = [];
  readonly #limit: number;
  readonly #now: () => number;
  readonly #onAdd: (entry: TimelineEntry) => void;
  #next = 1;

  constructor(options: { limit?: number; now?: () => number; onAdd?: (entry: TimelineEntry) => void } = {}) {
    this.#limit = options.limit ?? 200;
    this.#now = options.now ?? Date.now;
    this.#onAdd = options.onAdd ?? (() => undefined);
  }

  add(kind: TimelineKind, text: string, details?: Record<string, unknown>): TimelineEntry {
    const entry: TimelineEntry = {
      id: this.#next++,
      at: this.#now(),
      kind,
      text,
      ...(details === undefined ? {} : { details }),
    };
    this.#entries.push(entry);
    if (this.#entries.length > this.#limit) this.#entries.splice(0, this.#entries.length - this.#limit);
    this.#onAdd(entry);
    return entry;
  }

  entries(): readonly TimelineEntry[] {
    return this.#entries;
  }

  /** Adds what a registry event means for an operator; `fallback_write` events are counted elsewhere. */
  addRegistryEvent(event: RegistryEvent): void {
    switch (event.type) {
      case 'fallback_entered':
        this.add('fallback', `Redis unavailable (${event.reason}): circuits run on the in-memory mirror`, {
          reason: event.reason,
        });
        return;
      case 'recovered':
        this.add('recovered', `Redis back after ${Math.round(event.fallbackDurationMs)} ms of fallback`, {
          fallbackDurationMs: Math.round(event.fallbackDurationMs),
        });
        return;
      case 'reconciled':
        this.add(
          'reconciled',
          `Reconciled (${event.trigger}): ${event.merged} merged, ${event.conflicting} conflicting, ` +
            `${event.reseeded} re-seeded, ${event.failed} failed, ${event.checked} checked`,
          {
            trigger: event.trigger,
            merged: event.merged,
            conflicting: event.conflicting,
            reseeded: event.reseeded,
            failed: event.failed,
            checked: event.checked,
            circuits: event.circuits,
            durationMs: Math.round(event.durationMs),
          },
        );
        return;
      case 'state_change':
        this.add('state', `${event.name}: ${event.from} → ${event.to} (${event.reason})`, {
          circuit: event.name,
          from: event.from,
          to: event.to,
          reason: event.reason,
        });
        return;
      case 'authentication_failed':
        this.add(
          'fallback',
          `Redis refused the credentials (${event.error.code}): fix the password or ACL; retrying`,
          {
            code: event.error.code,
          },
        );
        return;
      case 'fallback_write':
        return;
      default: {
        const unknown: never = event;
        throw new Error(`unexpected registry event ${JSON.stringify(unknown)}`);
      }
    }
  }
}
