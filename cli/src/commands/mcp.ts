import { readFileSync, statSync } from "node:fs";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { SeismoError } from "@seismo/agent-proto";
import { openDatabaseReadOnly } from "@seismo/analyzer";
import { createLogger } from "@seismo/daemon";
import { usageError } from "../cli-error.js";
import { isLoopbackBind, tokenProblem } from "../mcp/http-guard.js";
import { verbArgs } from "../verb-args.js";
import { createSeismoMcpServer, serveMcpHttp } from "../mcp/server.js";
import { DB_HELP, DB_OPTION, dbPath } from "../options.js";
import { onStopSignal } from "../signals.js";

export const MCP_HELP = `Usage: seismo mcp [--db PATH]                              (stdio)
       seismo mcp --http PORT [--host ADDR] [--token-file PATH] [--db PATH]   (streamable HTTP)

An MCP server for AI agents over Seismo's database: the incidents with their
culprits and evidence, the hottest functions, one function's figures over time
and per deployment, deployment comparisons, spike profiles summarized, and
read-only SQL. Every result is structured (an output schema per tool) and
points at code an agent can open: file, line, package@version.

Over stdio, an agent starts it itself, e.g. in its MCP settings:
  { "command": "npx", "args": ["seismo", "mcp", "--db", "/path/to/seismo.db"] }
Over HTTP, at http://ADDR:PORT/mcp, every request needs
\`Authorization: Bearer <token>\`: the tools read production data. The token
comes from $SEISMO_MCP_TOKEN or a file, never the command line (every user
reads that in \`ps\`), and must be random: \`openssl rand -hex 24\`. Requests
whose Host is not this server, or whose Origin is another site's (a browser
page rebinding a DNS name), are refused. Plain HTTP stays on loopback unless
--allow-plain-http; beyond one host, put a TLS reverse proxy in front.

Options:
  --http PORT          serve streamable HTTP on this port instead of stdio (0 for any free one)
  --host ADDR          the address to listen on (default 127.0.0.1)
  --token-file PATH    a file holding the bearer token HTTP clients must give (default:
                       $SEISMO_MCP_TOKEN; one of the two is required with --http)
  --allow-plain-http   listen beyond loopback without TLS (behind a TLS-terminating proxy on
                       the same host or network namespace only)
${DB_HELP}
  -h, --help           this help`;

/** The token in a file (its first line); a file other users may read is refused. */
function readTokenFile(path: string): string {
  let text: string;
  try {
    if ((statSync(path).mode & 0o077) !== 0) {
      throw usageError(`${path} can be read by other users: chmod 600 ${path}.`, "mcp");
    }
    text = readFileSync(path, "utf8");
  } catch (error) {
    if (error instanceof SeismoError) throw error;
    throw usageError(`Cannot read the token file ${path}: ${(error as Error).message}.`, "mcp");
  }
  return text.split(/\r?\n/)[0]?.trim() ?? "";
}

export async function mcpCommand(args: string[], out: (text: string) => void): Promise<number> {
  if (args.some((a) => a === "--token" || a.startsWith("--token="))) {
    throw usageError("--token is not taken: a token on the command line is visible to every user in `ps`. Put it in SEISMO_MCP_TOKEN, or in a file (mode 600) given with --token-file.", "mcp");
  }
  const parsed = verbArgs(
    "mcp",
    args,
    { ...DB_OPTION, http: { type: "string" }, host: { type: "string" }, "token-file": { type: "string" }, "allow-plain-http": { type: "boolean" } },
    MCP_HELP,
    out,
  );
  if (!parsed) return 0;
  const { values } = parsed;
  const db = dbPath(values.db);
  // Fail now, with the database's own message, rather than on the agent's first call.
  openDatabaseReadOnly(db).close();
  const log = createLogger("seismo mcp");
  if (values.http === undefined) {
    if (values.host !== undefined || values["token-file"] !== undefined || values["allow-plain-http"]) throw usageError("--host, --token-file and --allow-plain-http go with --http.", "mcp");
    const server = createSeismoMcpServer(db);
    await server.connect(new StdioServerTransport());
    log.info(`serving ${db} over stdio`);
    await new Promise<void>((resolve) => {
      process.stdin.once("end", resolve);
      onStopSignal(() => resolve());
    });
    await server.close();
    return 0;
  }
  if (!/^\d+$/.test(values.http) || Number(values.http) > 65_535) throw usageError(`--http must be a port number, not "${values.http}".`, "mcp");
  const token = values["token-file"] === undefined ? process.env.SEISMO_MCP_TOKEN : readTokenFile(values["token-file"]);
  if (!token) throw usageError("Give a bearer token in SEISMO_MCP_TOKEN or a file given with --token-file (make one with `openssl rand -hex 24`): the tools read production data.", "mcp");
  const weak = tokenProblem(token);
  if (weak) throw usageError(`The MCP token will not do: ${weak}. Make one with \`openssl rand -hex 24\`.`, "mcp");
  const host = values.host ?? "127.0.0.1";
  if (!isLoopbackBind(host)) {
    if (!values["allow-plain-http"]) {
      throw usageError(
        `Refusing to serve production data over plain HTTP on ${host}: the token and every answer would cross the network in clear. Keep --host 127.0.0.1 and put a TLS reverse proxy in front (or, behind one on the same host or network namespace, add --allow-plain-http).`,
        "mcp",
      );
    }
    log.warn(`serving plain HTTP on ${host}, beyond loopback: only safe behind a TLS-terminating proxy that no one else can bypass`);
  }
  const http = await serveMcpHttp(db, { port: Number(values.http), host, token });
  log.info(`serving ${db} at http://${host}:${http.port}/mcp (bearer token required)`);
  await new Promise<void>((resolve) => {
    onStopSignal(() => resolve());
  });
  await http.close();
  return 0;
}
