import { CircuitBreakerError, hasErrorCode } from './circuit-breaker-error.js';

/** The protected function did not settle within `callTimeoutMs`; its AbortSignal was aborted. */
export class CallTimeoutError extends CircuitBreakerError {
  override readonly name = 'CallTimeoutError';
  readonly circuit: string;
  readonly timeoutMs: number;

  constructor(circuit: string, timeoutMs: number) {
    super('CALL_TIMEOUT', `Call through circuit "${circuit}" timed out after ${timeoutMs} ms`);
    this.circuit = circuit;
    this.timeoutMs = timeoutMs;
  }

  static override isInstance(value: unknown): value is CallTimeoutError {
    return hasErrorCode(value, 'CALL_TIMEOUT');
  }
}
