import { ErrorCodes, SeismoError } from "@seismo/agent-proto";

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_HOSTS.has(host.toLowerCase()) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * The inspector is remote code execution. Seismo only ever talks to one on the
 * loopback interface, and says so plainly when asked for anything else.
 */
export function assertLoopbackUrl(url: string): void {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch (cause) {
    throw new SeismoError(ErrorCodes.USAGE, `"${url}" is not a valid inspector URL.`, {
      cause,
      hint: "Give the webSocketDebuggerUrl from http://127.0.0.1:9229/json/list, e.g. ws://127.0.0.1:9229/<id>.",
    });
  }
  if (!isLoopbackHost(host)) {
    throw new SeismoError(ErrorCodes.INSPECTOR_NOT_LOOPBACK, `Refusing the inspector at ${host}: it is not on loopback.`, {
      hint: "Run the Seismo daemon next to the process (same host or pod) and use 127.0.0.1.",
    });
  }
}
