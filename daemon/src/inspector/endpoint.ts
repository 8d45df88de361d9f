import { request } from "node:http";
import type { ListeningSocket } from "../target/listening-sockets.js";

export interface InspectorEndpoint {
  host: string;
  port: number;
  webSocketDebuggerUrl: string;
}

interface ListEntry {
  type?: string;
  webSocketDebuggerUrl?: string;
}

function hostForUrl(address: string): string {
  return address.includes(":") ? `[${address}]` : address;
}

/**
 * Asks host:port whether it is a Node inspector (GET /json/list). Anything but a
 * JSON list with a WebSocket URL, within the timeout, is "no".
 */
export function probeInspector(address: string, port: number, timeoutMs = 1_000): Promise<InspectorEndpoint | undefined> {
  const host = hostForUrl(address);
  return new Promise((resolve) => {
    const req = request(
      { host: address, port, path: "/json/list", method: "GET", timeout: timeoutMs, headers: { host: `${host}:${port}` } },
      (res) => {
        if (res.statusCode !== 200) {
          res.resume();
          resolve(undefined);
          return;
        }
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          body += chunk;
          if (body.length > 256 * 1024) req.destroy();
        });
        res.on("end", () => {
          try {
            const list = JSON.parse(body) as ListEntry[];
            const entry = Array.isArray(list) ? list.find((e) => typeof e.webSocketDebuggerUrl === "string") : undefined;
            resolve(entry?.webSocketDebuggerUrl ? { host: address, port, webSocketDebuggerUrl: entry.webSocketDebuggerUrl } : undefined);
          } catch {
            resolve(undefined);
          }
        });
        res.on("error", () => resolve(undefined));
      },
    );
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(undefined));
    req.end();
  });
}

/** The inspector among these sockets, trying likely ports (9229 and up) first. */
export async function findInspectorAmong(sockets: ListeningSocket[], timeoutMs = 1_000): Promise<InspectorEndpoint | undefined> {
  const ordered = [...sockets].sort((a, b) => inspectorLikelihood(b.port) - inspectorLikelihood(a.port));
  for (const socket of ordered) {
    const address = socket.address === "0.0.0.0" ? "127.0.0.1" : socket.address === "::" ? "::1" : socket.address;
    const found = await probeInspector(address, socket.port, timeoutMs);
    if (found) return found;
  }
  return undefined;
}

function inspectorLikelihood(port: number): number {
  return port >= 9229 && port < 9300 ? 1 : 0;
}
