import { describeError, ErrorCodes, isSeismoError, SeismoError } from "@seismo/agent-proto";

/** Exit codes: 0 fine, 1 something went wrong at run time, 2 the command line was wrong. */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export function usageError(message: string, verb?: string): SeismoError {
  return new SeismoError(ErrorCodes.USAGE, message, { hint: `See \`seismo ${verb ? `${verb} ` : ""}--help\`.` });
}

/** Prints one line saying what went wrong and what to do, and returns the exit code. */
export function reportFailure(error: unknown, write: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): number {
  if (isSeismoError(error)) {
    write(`seismo: ${error.toLine()}`);
    return error.code === ErrorCodes.USAGE ? EXIT_USAGE : EXIT_FAILURE;
  }
  const parseProblem = (error as { code?: string })?.code?.startsWith("ERR_PARSE_ARGS");
  write(`seismo: ${describeError(error)}${parseProblem ? " See `seismo <verb> --help`." : ""}`);
  return parseProblem ? EXIT_USAGE : EXIT_FAILURE;
}
