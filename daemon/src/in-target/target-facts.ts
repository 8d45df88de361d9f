/** What the target says of itself at attach (checked field by field by the daemon: sensor.ts readFacts). */
export interface RawTargetFacts {
  pid: number;
  nodeVersion: string;
  v8Version: string;
  argv: string[];
  execArgv: string[];
  cwd: string;
}

/** In the target: its pid, versions, argv and working directory, as JSON text (or the error that stopped it). */
export function describeTarget(): string {
  try {
    const facts: RawTargetFacts = { pid: process.pid, nodeVersion: process.version, v8Version: process.versions.v8, argv: process.argv, execArgv: process.execArgv, cwd: process.cwd() };
    return JSON.stringify(facts);
  } catch (e) {
    return JSON.stringify({ error: String(e) });
  }
}
