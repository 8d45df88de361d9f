import type { ParseArgsConfig } from "node:util";
import { parseArgs } from "node:util";
import { usageError } from "./cli-error.js";
import { HELP_OPTION } from "./options.js";

type Options = NonNullable<ParseArgsConfig["options"]>;
type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O & typeof HELP_OPTION; allowPositionals: true }>>;

/**
 * A verb's flags, parsed the same way for every verb: -h/--help prints `help` and gives
 * undefined (the verb returns 0), and more than `maxPositionals` words is a usage error naming
 * the first one too many.
 */
export function verbArgs<O extends Options>(verb: string, args: string[], options: O, help: string, out: (text: string) => void, maxPositionals = 0): Parsed<O> | undefined {
  const parsed = parseArgs({ args, options: { ...options, ...HELP_OPTION }, allowPositionals: true }) as Parsed<O>;
  if ((parsed.values as { help?: boolean }).help) {
    out(help);
    return undefined;
  }
  const extra = parsed.positionals[maxPositionals];
  if (extra !== undefined) throw usageError(`Unexpected "${extra}".`, verb);
  return parsed;
}

/** --limit N: a positive whole number, or `fallback` when not given. */
export function limitOf(text: string | undefined, fallback: number, verb: string): number {
  const limit = text === undefined ? fallback : Number(text);
  if (!Number.isInteger(limit) || limit < 1) throw usageError(`--limit must be a positive whole number, not "${text}".`, verb);
  return limit;
}
