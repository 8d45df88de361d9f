import type { IncidentView } from "../incidents/incident.js";
import { getIncident } from "../query/incidents.js";
import type { Db } from "../store/database.js";
import type { AlertFormat } from "./alert-body.js";
import { alertBody, formatForUrl, slackBody } from "./alert-body.js";
import type { AlertRecord } from "./alert-policy.js";
import { coolDownKey, decideAlert } from "./alert-policy.js";

export interface WebhookSettings {
  url: string;
  /** Default: "slack" for a hooks.slack.com URL, else "json". */
  format?: AlertFormat;
  /** A second incident of the same culprit within this is stored but does not alert (default 1 h). */
  coolDownMs: number;
  /** Per attempt. */
  timeoutMs: number;
  /** Waits before the retries; the alert fails after the last. */
  retryDelaysMs: number[];
}

export const DEFAULT_WEBHOOK_SETTINGS: Omit<WebhookSettings, "url"> = { coolDownMs: 3_600_000, timeoutMs: 5_000, retryDelaysMs: [1_000, 5_000, 20_000] };

export interface AlertLog {
  info(message: string): void;
  warn(message: string): void;
}

/** One HTTP POST of a JSON body; resolves to the status code. The real one is fetch; tests use a real server. */
export type PostJson = (url: string, body: string, signal: AbortSignal) => Promise<number>;

export const postJson: PostJson = async (url, body, signal) => {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", "user-agent": "seismo-alerts" },
    body,
    signal,
  });
  await response.arrayBuffer().catch(() => undefined);
  return response.status;
};

/** A webhook URL carries its secret in the path (Slack) or query: logs show the origin only. */
export function redactWebhookUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return parsed.pathname === "/" && !parsed.search ? parsed.origin : `${parsed.origin}/…`;
  } catch {
    return "(invalid URL)";
  }
}

/**
 * Sends incidents to a webhook: at most one alert per incident (recorded in
 * the database, so a restart or a later update of the same incident never
 * sends again), a cool-down per culprit, retries with back-off, and never a
 * wait on the ingest path. Delivery is at least once: if the analyzer dies
 * between the receiver's answer and the record of it, the next start sends
 * it again, so the body's `id` is what receivers dedupe on.
 */
export class WebhookAlerts {
  private readonly inFlight = new Set<Promise<void>>();
  private readonly format: AlertFormat;
  private readonly stopping = new AbortController();

  constructor(
    private readonly db: Db,
    private readonly settings: WebhookSettings,
    private readonly log: AlertLog,
    private readonly post: PostJson = postJson,
    private readonly now: () => number = Date.now,
  ) {
    this.format = settings.format ?? formatForUrl(settings.url);
  }

  /** Sends alerts left pending by a previous run (it stopped mid-delivery). */
  resumePending(): void {
    const pending = this.db.prepare("SELECT incident_id FROM alerts WHERE status = 'pending'").all() as Array<{ incident_id: string }>;
    for (const { incident_id } of pending) this.deliverById(incident_id);
  }

  /** Called when an incident is stored or updated. Returns whether an alert is on its way. */
  notify(incidentId: string): boolean {
    if (this.stopping.signal.aborted) return false;
    let incident: IncidentView;
    try {
      incident = getIncident(this.db, incidentId);
    } catch (error) {
      this.log.warn(`alert for ${incidentId} skipped: ${(error as Error).message}`);
      return false;
    }
    const key = coolDownKey(incident);
    const nowMs = this.now();
    const decision = this.db.transaction(() => {
      const existing = this.record(incidentId);
      const previous = (
        this.db
          .prepare("SELECT incident_id, status, created_at_ms FROM alerts WHERE cooldown_key = ? ORDER BY created_at_ms DESC LIMIT 20")
          .all(key) as Array<{ incident_id: string; status: AlertRecord["status"]; created_at_ms: number }>
      ).map((r) => ({ incidentId: r.incident_id, status: r.status, createdAtMs: r.created_at_ms }));
      const verdict = decideAlert(existing, previous, nowMs, this.settings.coolDownMs);
      if (!existing) {
        this.db
          .prepare("INSERT INTO alerts (incident_id, cooldown_key, status, detail, created_at_ms) VALUES (?, ?, ?, ?, ?)")
          .run(incidentId, key, verdict.send ? "pending" : "suppressed", verdict.send ? "" : verdict.reason, nowMs);
      }
      return verdict;
    })();
    if (!decision.send) {
      if (decision.reason.startsWith("cool-down")) this.log.info(`alert for ${incidentId} not sent: ${decision.reason}`);
      return false;
    }
    this.deliver(incident);
    return true;
  }

  /** Resolves when every delivery under way has finished (sent, or failed for good). */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  /** Stops sending at once; what was not delivered stays pending, and the next start sends it. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.drain();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      timer.unref();
      this.stopping.signal.addEventListener("abort", () => {
        clearTimeout(timer);
        resolve();
      }, { once: true });
    });
  }

  private record(incidentId: string): AlertRecord | undefined {
    const row = this.db.prepare("SELECT status, created_at_ms FROM alerts WHERE incident_id = ?").get(incidentId) as
      | { status: AlertRecord["status"]; created_at_ms: number }
      | undefined;
    return row ? { incidentId, status: row.status, createdAtMs: row.created_at_ms } : undefined;
  }

  private deliverById(incidentId: string): void {
    try {
      this.deliver(getIncident(this.db, incidentId));
    } catch (error) {
      this.finish(incidentId, "failed", (error as Error).message, 0);
    }
  }

  private deliver(incident: IncidentView): void {
    const task = this.attempts(incident).finally(() => this.inFlight.delete(task));
    this.inFlight.add(task);
  }

  private async attempts(incident: IncidentView): Promise<void> {
    const where = redactWebhookUrl(this.settings.url);
    let lastError = "";
    const delays = [0, ...this.settings.retryDelaysMs];
    for (let attempt = 0; attempt < delays.length; attempt++) {
      if (attempt > 0) await this.sleep(delays[attempt] as number);
      if (this.stopping.signal.aborted) return; // stays pending: the next start sends it
      const body = this.format === "slack" ? slackBody(incident) : alertBody(incident, this.now());
      try {
        const signal = AbortSignal.any([AbortSignal.timeout(this.settings.timeoutMs), this.stopping.signal]);
        const status = await this.post(this.settings.url, JSON.stringify(body), signal);
        if (status >= 200 && status < 300) {
          this.finish(incident.id, "sent", `HTTP ${status}`, attempt + 1);
          this.log.info(`alert for ${incident.id} sent to ${where}`);
          return;
        }
        lastError = `HTTP ${status}`;
        // A 4xx other than 408/429 will not get better by asking again.
        if (status >= 400 && status < 500 && status !== 408 && status !== 429) break;
      } catch (error) {
        if (this.stopping.signal.aborted) return;
        lastError = (error as Error).message;
      }
    }
    this.finish(incident.id, "failed", lastError, delays.length);
    this.log.warn(
      `alert for ${incident.id} not delivered to ${where}: ${lastError}. The incident is stored; check the webhook URL (--webhook) and that the receiver accepts JSON POSTs.`,
    );
  }

  private finish(incidentId: string, status: AlertRecord["status"], detail: string, attempts: number): void {
    try {
      this.db
        .prepare("UPDATE alerts SET status = ?, detail = ?, attempts = ?, sent_at_ms = ? WHERE incident_id = ?")
        .run(status, detail, attempts, status === "sent" ? this.now() : null, incidentId);
    } catch (error) {
      // The database closed under us (shutdown): the row stays pending and is resent on the next start.
      this.log.warn(`alert record for ${incidentId} not updated: ${(error as Error).message}`);
    }
  }
}
