import type { Server } from "node:http";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { ErrorCodes, SeismoError } from "@seismo/agent-proto";

export interface HealthEndpoints {
  /** Why it is not ready, or undefined when it is (/readyz). */
  notReady: () => string | undefined;
  /** The Prometheus text of /metrics. */
  metrics: () => Promise<string>;
  contentType: string;
}

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

/**
 * /healthz (the process answers), /readyz (it does its job: connected, scanning) and Prometheus
 * /metrics. Counts only: no function name, value or path of the app is ever in them, so the port
 * may be reached by the kubelet and a Prometheus scraper without credentials.
 */
export async function startHealthServer(port: number, host: string, endpoints: HealthEndpoints): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    if (path === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    } else if (path === "/readyz") {
      const why = endpoints.notReady();
      res.writeHead(why ? 503 : 200, { "content-type": "text/plain" }).end(why ? `not ready: ${why}\n` : "ready\n");
    } else if (path === "/metrics") {
      endpoints.metrics().then(
        (text) => res.writeHead(200, { "content-type": endpoints.contentType }).end(text),
        (error: unknown) => res.writeHead(500, { "content-type": "text/plain" }).end(`metrics failed: ${(error as Error).message}\n`),
      );
    } else {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found: try /healthz, /readyz or /metrics\n");
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(
        new SeismoError(ErrorCodes.USAGE, `Cannot serve health and metrics on ${host}:${port}: ${error.code ?? error.message}.`, {
          hint: "Choose another --health-port, or 0 for any free port.",
        }),
      ),
    );
    server.listen(port, host, resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
