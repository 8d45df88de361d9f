import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { openDatabaseReadOnly } from "@seismo/analyzer";
import { createLogger } from "@seismo/daemon";
import { usageError } from "../cli-error.js";
import { verbArgs } from "../verb-args.js";
import { createSeismoMcpServer, serveMcpHttp } from "../mcp/server.js";
import { DB_HELP, DB_OPTION, dbPath } from "../options.js";
import { onStopSignal } from "../signals.js";

export const MCP_HELP = `Usage: seismo mcp [--db PATH]                              (stdio)
       seismo mcp --http PORT [--host ADDR] [--token T] [--db PATH]   (streamable HTTP)

An MCP server for AI agents over Seismo's database: the incidents with their
culprits and evidence, the hottest functions, one function's figures over time
and per deployment, deployment comparisons, spike profiles summarized, and
read-only SQL. Every result is structured (an output schema per tool) and
points at code an agent can open: file, line, package@version.

Over stdio, an agent starts it itself, e.g. in its MCP settings:
  { "command": "npx", "args": ["seismo", "mcp", "--db", "/path/to/seismo.db"] }
Over HTTP, at http://ADDR:PORT/mcp, every request needs
\`Authorization: Bearer <token>\`: the tools read production data.

Options:
  --http PORT          serve streamable HTTP on this port instead of stdio (0 for any free one)
  --host ADDR          the address to listen on (default 127.0.0.1)
  --token T            the bearer token HTTP clients must give (default: $SEISMO_MCP_TOKEN;
                       required with --http)
${DB_HELP}
  -h, --help           this help`;

export async function mcpCommand(args: string[], out: (text: string) => void): Promise<number> {
  const parsed = verbArgs("mcp", args, { ...DB_OPTION, http: { type: "string" }, host: { type: "string" }, token: { type: "string" } }, MCP_HELP, out);
  if (!parsed) return 0;
  const { values } = parsed;
  const db = dbPath(values.db);
  // Fail now, with the database's own message, rather than on the agent's first call.
  openDatabaseReadOnly(db).close();
  const log = createLogger("seismo mcp");
  if (values.http === undefined) {
    if (values.host !== undefined || values.token !== undefined) throw usageError("--host and --token go with --http.", "mcp");
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
  const token = values.token ?? process.env.SEISMO_MCP_TOKEN;
  if (!token || token.length < 16) {
    throw usageError("Give a bearer token of at least 16 characters with --token or SEISMO_MCP_TOKEN (e.g. `openssl rand -hex 24`): the tools read production data.", "mcp");
  }
  const http = await serveMcpHttp(db, { port: Number(values.http), host: values.host ?? "127.0.0.1", token });
  log.info(`serving ${db} at http://${values.host ?? "127.0.0.1"}:${http.port}/mcp (bearer token required)`);
  await new Promise<void>((resolve) => {
    onStopSignal(() => resolve());
  });
  await http.close();
  return 0;
}
