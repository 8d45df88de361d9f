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

/** The range the kernel gives a socket bound to port 0 (net.ipv4.ip_local_port_range). */
export interface PortRange {
  low: number;
  high: number;
}

/** Linux's default, when /proc/sys/net/ipv4/ip_local_port_range cannot be read. */
export const DEFAULT_EPHEMERAL_PORTS: PortRange = { low: 32_768, high: 60_999 };

/**
 * The sockets that may be the inspector, given the port Node's options give it: that port only
 * (9229 when none is given), or, for a random port (0), those in the ephemeral range, where the
 * kernel put it. Every other socket is the app's own: a probe there is a request the app serves
 * (a GET /json/list in its access log, or in its handlers), so it is never sent.
 */
export function inspectorCandidates(sockets: ListeningSocket[], port: number, ephemeral: PortRange): ListeningSocket[] {
  return sockets.filter((s) => (port === 0 ? s.port >= ephemeral.low && s.port <= ephemeral.high : s.port === port));
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
