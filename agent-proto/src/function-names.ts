/**
 * How functions V8 gives no name are shown. V8 reports an anonymous function
 * with an empty name; Seismo shows "(anonymous)", followed, when the daemon
 * could read the source, by where the function sits (the call it is passed
 * to): `(anonymous) router.get('/reports', …)`. The part after the prefix is
 * Seismo's reading of the source, not a name V8 gave.
 */
export const ANONYMOUS = "(anonymous)";

/** The name shown for an anonymous function sitting in `context` ("" when nothing is known). */
export function anonymousName(context: string): string {
  return context ? `${ANONYMOUS} ${context}` : ANONYMOUS;
}

/** True for a function V8 gave no name, described or not. */
export function isAnonymousName(name: string): boolean {
  return name === "" || name === ANONYMOUS || name.startsWith(`${ANONYMOUS} `);
}

/**
 * True when the name tells one anonymous function from the others of its file without its line:
 * its context quotes a literal (a route, an event), so an edit above it keeps its identity.
 */
export function isDistinctAnonymousName(name: string): boolean {
  return name.startsWith(`${ANONYMOUS} `) && name.includes("'");
}
