const MASK = '***';

/**
 * Removes every secret from a text meant for an error message, event or status: the given secrets
 * (raw and URL-encoded) and any `user:password@` part of a URL.
 */
export function redact(text: string, secrets: readonly (string | undefined)[]): string {
  let result = text.replace(/(rediss?:\/\/)[^@\s/]*@/gi, `$1${MASK}@`);
  for (const secret of secrets) {
    if (secret === undefined || secret.length === 0) continue;
    for (const form of new Set([secret, encodeURIComponent(secret)])) {
      result = result.split(form).join(MASK);
    }
  }
  return result;
}
