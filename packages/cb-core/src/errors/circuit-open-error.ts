import type { RejectionReason } from '../store.js';
import { CircuitBreakerError, hasErrorCode } from './circuit-breaker-error.js';

const DESCRIPTION: Record<RejectionReason, string> = {
  open: 'open',
  half_open_full: 'half-open with every probe taken',
  forced_open: 'forced open',
};

/**
 * A call was not admitted: the circuit is open, its probes are all taken, or it is forced open.
 * The message gives `retryAt` as epoch milliseconds.
 */
export class CircuitOpenError extends CircuitBreakerError {
  override readonly name = 'CircuitOpenError';
  readonly circuit: string;
  readonly reason: RejectionReason;
  /** Epoch ms at which the circuit may admit calls again, or `null` when unknown (forced open). */
  readonly retryAt: number | null;

  constructor(circuit: string, reason: RejectionReason, retryAt: number | null) {
    // Kept cheap on purpose: this is built on the rejection path, once per rejected call.
    super(
      'CIRCUIT_OPEN',
      `Circuit "${circuit}" is ${DESCRIPTION[reason]}${retryAt === null ? '' : ` until ${retryAt}`}`,
    );
    this.circuit = circuit;
    this.reason = reason;
    this.retryAt = retryAt;
  }

  static override isInstance(value: unknown): value is CircuitOpenError {
    return hasErrorCode(value, 'CIRCUIT_OPEN');
  }
}
