import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { SEISMO_VERSION } from "@seismo/daemon";
import { allowedHosts, requestRefusal } from "./http-guard.js";
import { registerSeismoResources } from "./resources.js";
import { registerSeismoTools } from "./tools.js";

const INSTRUCTIONS = `Seismo watches Node.js services in production from outside and knows, per function, where their CPU goes, what got slower since which deployment, and what the culprit was working on.
Start with list_incidents (what went wrong) or hot_functions (where the CPU goes); get_incident gives the evidence and the line to open; compare_deployments and function_stats answer "since when and by how much"; query is read-only SQL for the rest.`;

/** Seismo's MCP server over one database (opened read-only per call). */
export function createSeismoMcpServer(dbPath: string): McpServer {
  const server = new McpServer({ name: "seismo", version: SEISMO_VERSION }, { instructions: INSTRUCTIONS });
  registerSeismoTools(server, dbPath);
  registerSeismoResources(server, dbPath);
  return server;
}

function bearerMatches(req: IncomingMessage, token: string): boolean {
  const given = /^Bearer (.+)$/i.exec(req.headers.authorization ?? "")?.[1] ?? "";
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

export interface McpHttpServer {
  port: number;
  close(): Promise<void>;
}

/**
 * Streamable HTTP at /mcp, stateless (a server and a transport per request), behind a bearer
 * token: the tools read production data. Any other path is 404; a missing or wrong token is 401.
 */
export async function serveMcpHttp(dbPath: string, options: { port: number; host: string; token: string }): Promise<McpHttpServer> {
  const http: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/mcp") {
      res.writeHead(404, { "content-type": "text/plain" }).end("Seismo's MCP endpoint is /mcp\n");
      return;
    }
    const refusal = requestRefusal({ host: req.headers.host, origin: req.headers.origin }, allowedHosts(options.host, req.socket.localPort ?? options.port));
    if (refusal) {
      res.writeHead(403, { "content-type": "application/json" });
      res.end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32000, message: `Forbidden: ${refusal}.` }, id: null }));
      return;
    }
    if (!bearerMatches(req, options.token)) {
      res.writeHead(401, { "content-type": "application/json", "www-authenticate": 'Bearer realm="seismo"' });
      res.end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32001, message: "Unauthorized: give the token as `Authorization: Bearer <token>`." }, id: null }));
      return;
    }
    const server = createSeismoMcpServer(dbPath);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on("close", () => {
      void transport.close();
      void server.close();
    });
    server
      .connect(transport)
      .then(() => transport.handleRequest(req, res))
      .catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32603, message: (error as Error).message }, id: null }));
      });
  });
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(options.port, options.host, resolve);
  });
  return {
    port: (http.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };
}
