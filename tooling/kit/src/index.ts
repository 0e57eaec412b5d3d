export { type Clock, monotonicNow, systemClock, type TimerHandle, type TimerProvider } from './clock.js';
export {
  cancellableSleep,
  type Deadline,
  type DeadlineOptions,
  stallThresholdMs,
  startDeadline,
  type Timing,
  withDeadline,
  yieldToEventLoop,
} from './deadline.js';
export { type Disposable, toDisposable } from './disposable.js';
export { createErrorBrand, type ErrorBrand } from './error-brand.js';
export { InFlightLimit } from './in-flight-limit.js';
export { Listeners, rethrowLater } from './listeners.js';
export { createOptionsReader, type OptionsReaderSettings, type OptionValues } from './options.js';
export {
  assertBoolean,
  assertClock,
  assertDelayMs,
  assertFunction,
  assertInteger,
  assertKnownKeys,
  assertNonEmptyString,
  assertNumber,
  assertObject,
  assertOneOf,
  assertSecretString,
  describeType,
  describeValue,
  MAX_TIMER_DELAY_MS,
} from './validation.js';
