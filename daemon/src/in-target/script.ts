/**
 * Code that runs inside the target is written as ordinary, type-checked functions in this
 * directory and sent as their own source text: `(${fn})(settings, ...libraries)`. Such a function
 * must be self-contained: it may use JavaScript's built-ins and the target's `process` and
 * timers, and what it is given as arguments, never a binding of the module it is written in
 * (the test in daemon/test/in-target.test.ts runs each one in a bare vm context to prove it).
 * Settings travel as JSON; a library is another such function, called in the target first.
 */

/** A function, with the settings it is called with there, that makes a value in the target. */
export interface InTargetCall {
  readonly fn: (settings: never) => unknown;
  readonly settings: unknown;
}

/** A library call whose settings are checked against its function's parameter. */
export function inTargetCall<S>(fn: (settings: S) => unknown, settings: S): InTargetCall {
  return { fn: fn as (settings: never) => unknown, settings };
}

/**
 * The expression that calls `fn` in the target with `settings` (as JSON: plain data only) and,
 * after them, the value each library call makes there: `(fn)(settings, (lib)(libSettings), ...)`.
 * The settings are checked against the function's own first parameter.
 */
export function inTargetExpression<S>(fn: (settings: S, ...libraries: never[]) => unknown, settings: S, libraries: readonly InTargetCall[] = []): string {
  const args = [JSON.stringify(settings), ...libraries.map((lib) => `(${lib.fn.toString()})(${JSON.stringify(lib.settings)})`)];
  return `(${fn.toString()})(${args.join(", ")})`;
}
