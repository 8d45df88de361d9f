import type { CommandClient } from "@seismo/agent-proto";
import { errorCodeOf } from "@seismo/agent-proto";
import type { IncidentView } from "../incidents/incident.js";
import type { Db } from "../store/database.js";
import { capturePlan } from "./capture-plan.js";

export interface AutoCaptureLog {
  info(message: string): void;
  warn(message: string): void;
}

/**
 * When an incident opens, asks the daemon that watches the culprit's process
 * to capture the culprit's values on its next calls: the spike's own process,
 * or for a regression the most recently seen process of that deployment.
 * Once per incident; a later check of the same regression asks nothing.
 */
export class AutoCapture {
  private readonly asked = new Set<string>();

  constructor(
    private readonly db: Db,
    private readonly commands: CommandClient,
    private readonly log: AutoCaptureLog,
    private readonly settings = { hits: 5, ttlMs: 10 * 60_000 },
  ) {}

  async onIncident(incident: IncidentView): Promise<void> {
    if (this.asked.has(incident.id)) return;
    this.asked.add(incident.id);
    const plan = capturePlan(incident);
    if (!plan) return;
    const target = this.targetOf(incident);
    if (!target) return;
    const reply = await this.commands
      .request(target.daemonId, { kind: "arm", targetId: target.targetId, trigger: incident.id, file: plan.file, functionName: plan.functionName, ...(plan.line ? { functionLine: plan.line } : {}), ...this.settings })
      .catch((error: unknown) => ({ id: "", ok: false, error: { code: errorCodeOf(error), message: error instanceof Error ? error.message : String(error) } }));
    if (!reply.ok) this.log.warn(`no capture for ${incident.id}: ${reply.error?.message ?? "no reason given"} [${reply.error?.code ?? "?"}]`);
  }

  private targetOf(incident: IncidentView): { targetId: string; daemonId: string } | undefined {
    const row = (
      incident.targetId
        ? this.db.prepare("SELECT target_id, daemon_id FROM targets WHERE target_id = ?").get(incident.targetId)
        : this.db
            .prepare("SELECT target_id, daemon_id FROM targets WHERE service = ? AND deployment = ? ORDER BY last_seen_ms DESC LIMIT 1")
            .get(incident.service, incident.deployment)
    ) as { target_id: string; daemon_id: string } | undefined;
    return row ? { targetId: row.target_id, daemonId: row.daemon_id } : undefined;
  }
}
