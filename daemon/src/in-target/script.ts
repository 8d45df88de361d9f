/**
 * Code that runs inside the target is written as ordinary, type-checked functions in this
 * directory and sent as their own source text: `(${fn})(settings, ...libraries)`. Such a function
 * must be self-contained: it may use JavaScript's built-ins and the target's `process` and
 * timers, and what it is given as arguments, never a binding of the module it is written in
 * (the test in daemon/test/in-target.test.ts runs each one in a bare vm context to prove it).
 * Settings travel as JSON; a library is another such function, called in the target first.
 */

/** JSON-serializable settings: what crosses into the target as a literal. */
export type Json = string | number | boolean | null | readonly Json[] | { readonly [key: string]: Json };

/** A function, with the settings it is called with there, that makes a value in the target. */
export interface InTargetCall {
  readonly fn: (...args: never[]) => unknown;
  readonly settings: Json;
}

/**
 * The expression that calls `fn` in the target with `settings` (as JSON) and, after them, the
 * value each library call makes there: `(fn)(settings, (lib)(libSettings), ...)`.
 */
export function inTargetExpression(fn: (...args: never[]) => unknown, settings: Json, libraries: readonly InTargetCall[] = []): string {
  const args = [JSON.stringify(settings), ...libraries.map((lib) => `(${lib.fn.toString()})(${JSON.stringify(lib.settings)})`)];
  return `(${fn.toString()})(${args.join(", ")})`;
}
