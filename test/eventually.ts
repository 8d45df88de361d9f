/**
 * The one wait of the test suites: polls `check` until it gives a value (anything but undefined
 * or false), every `everyMs`. After `timeoutMs` it fails with `explain()`'s words, which should
 * say what was last seen, so that a timeout reads as a finding rather than "timed out".
 */
export async function eventually<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  options: { timeoutMs?: number; everyMs?: number; explain?: () => string } = {},
): Promise<T> {
  const { timeoutMs = 10_000, everyMs = 50 } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${options.explain?.() ?? "the condition stayed false"}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
