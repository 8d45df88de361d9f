import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { ResourceTemplate } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { Db } from "@seismo/analyzer";
import { getIncident, listIncidents, triageFor } from "@seismo/analyzer";
import { withDb as withDbAt } from "./with-db.js";

const WEEK_MS = 7 * 86_400_000;

/**
 * The same data as resources, for clients that attach context rather than call tools: the recent
 * incidents, each incident as JSON, and each incident's triage brief as Markdown.
 */
export function registerSeismoResources(server: McpServer, dbPath: string): void {
  const withDb = <T>(use: (db: Db) => T): Promise<T> => withDbAt(dbPath, use);
  const recent = (db: Db) => listIncidents(db, { sinceMs: Date.now() - WEEK_MS, limit: 50 });

  server.registerResource(
    "incidents",
    "seismo://incidents",
    { title: "Incidents of the last 7 days", description: "CPU spikes and regressions, newest first, each with its summary and main culprit.", mimeType: "application/json" },
    (uri) =>
      withDb((db) => ({
        contents: [{ uri: uri.href, mimeType: "application/json", text: JSON.stringify(recent(db).map((i) => ({ id: i.id, kind: i.kind, service: i.service, deployment: i.deployment, startedAt: i.startedAt, summary: i.summary })), null, 2) }],
      })),
  );

  server.registerResource(
    "incident",
    new ResourceTemplate("seismo://incidents/{id}", {
      list: () => withDb((db) => ({ resources: recent(db).map((i) => ({ uri: `seismo://incidents/${i.id}`, name: i.id, description: i.summary, mimeType: "application/json" })) })),
    }),
    { title: "One incident", description: "An incident in full: culprits with caller chains and locations, and the evidence.", mimeType: "application/json" },
    (uri, { id }) => withDb((db) => ({ contents: [{ uri: uri.href, mimeType: "application/json", text: JSON.stringify(getIncident(db, String(id)), null, 2) }] })),
  );

  server.registerResource(
    "triage",
    new ResourceTemplate("seismo://triage/{id}", {
      list: () => withDb((db) => ({ resources: recent(db).map((i) => ({ uri: `seismo://triage/${i.id}`, name: `triage ${i.id}`, description: i.summary, mimeType: "text/markdown" })) })),
    }),
    { title: "Triage brief", description: "What happened, the evidence, the culprit and the line to open, captured values, what changed, what to check next.", mimeType: "text/markdown" },
    (uri, { id }) => withDb((db) => ({ contents: [{ uri: uri.href, mimeType: "text/markdown", text: triageFor(db, getIncident(db, String(id))).markdown }] })),
  );
}
