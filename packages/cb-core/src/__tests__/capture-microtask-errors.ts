/**
 * Runs `emit` and collects what listeners rethrew in microtasks (the `Listeners` contract), instead
 * of letting it surface as an uncaught error in the test run.
 */
export async function captureMicrotaskErrors(emit: () => void): Promise<unknown[]> {
  const errors: unknown[] = [];
  const original = globalThis.queueMicrotask;
  globalThis.queueMicrotask = (task) =>
    original(() => {
      try {
        task();
      } catch (error) {
        errors.push(error);
      }
    });
  try {
    emit();
    await Promise.resolve();
  } finally {
    globalThis.queueMicrotask = original;
  }
  return errors;
}
