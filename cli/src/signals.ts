/**
 * Calls `stop` once on the first SIGINT or SIGTERM. A second signal while
 * stopping exits at once: a user pressing Ctrl-C twice means it.
 */
export function onStopSignal(stop: (signal: NodeJS.Signals) => void): () => void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping) {
      process.stderr.write(`seismo: second ${signal}, exiting now\n`);
      process.exit(130);
    }
    stopping = true;
    stop(signal);
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
  return () => {
    process.off("SIGINT", handler);
    process.off("SIGTERM", handler);
  };
}
