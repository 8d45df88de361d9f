import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import type { Server } from "node:http";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Ajv } from "ajv";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { WebhookSettings } from "../src/alerts/webhook-alerts.js";
import type { Db } from "../src/store/database.js";
import { redactWebhookUrl, WebhookAlerts } from "../src/alerts/webhook-alerts.js";
import { incidentId } from "../src/incidents/incident-id.js";
import { openDatabase } from "../src/store/database.js";

const schema = JSON.parse(readFileSync(join(import.meta.dirname, "../../docs/alert.schema.json"), "utf8")) as object;
const ajv = new Ajv({ strict: true, allErrors: true });
ajv.addFormat("date-time", (s: string) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/.test(s) && !Number.isNaN(Date.parse(s)));
const validate = ajv.compile(schema);

/** A real HTTP receiver that answers with the statuses given, then 200. */
interface Receiver {
  url: string;
  bodies: unknown[];
  paths: string[];
  close(): Promise<void>;
}
async function receiver(statuses: number[] = []): Promise<Receiver> {
  const bodies: unknown[] = [];
  const paths: string[] = [];
  const server: Server = createServer((req, res) => {
    let text = "";
    req.on("data", (d: Buffer) => (text += d.toString()));
    req.on("end", () => {
      paths.push(req.url ?? "");
      bodies.push(JSON.parse(text));
      res.statusCode = statuses.shift() ?? 200;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hooks/T000/SECRET-PATH`, bodies, paths, close: () => new Promise((r) => server.close(() => r())) };
}

let dir: string;
let db: Db;
let receivers: Receiver[] = [];
const logs: string[] = [];
const log = { info: (m: string) => logs.push(m), warn: (m: string) => logs.push(m) };
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "seismo-alerts-"));
  db = openDatabase(join(dir, "seismo.db"));
  logs.length = 0;
});
afterEach(async () => {
  await Promise.all(receivers.map((r) => r.close()));
  receivers = [];
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A stored cpu_spike incident whose top culprit is `culprit`. */
function spikeIncident(n: number, culprit: string, startedAtMs: number): string {
  const id = incidentId("cpu_spike", `spike-${n}`);
  const culprits = [
    { name: culprit, file: "/app/src/slug.js", line: 21, package: null, packageVersion: null, builtin: false, share: 0.8, baselineShare: 0.01, hotLine: 22,
      appFrame: { name: culprit, file: "/app/src/slug.js", line: 21 }, callers: [], note: "", samples: 3_000 },
  ];
  db.prepare(
    `INSERT INTO incidents (incident_id, kind, service, deployment, target_id, started_at_ms, ended_at_ms, summary, culprits, details, source_id, created_at_ms)
     VALUES (?, 'cpu_spike', 'shop', 'v1', 'd:1:1', ?, NULL, ?, ?, '{}', ?, ?)`,
  ).run(id, startedAtMs, `CPU spike on shop: \`${culprit}\` (src/slug.js:21) took 80 % of CPU, 1.0 % normally.`, JSON.stringify(culprits), `spike-${n}`, startedAtMs);
  return id;
}

const settings = (url: string, extra: Partial<WebhookSettings> = {}): WebhookSettings => ({ url, coolDownMs: 3_600_000, timeoutMs: 2_000, retryDelaysMs: [20, 20], ...extra });

describe("webhook alerts", () => {
  it("sends exactly one alert per incident, whose body validates against the documented schema", async () => {
    const hook = await receiver();
    receivers.push(hook);
    const alerts = new WebhookAlerts(db, settings(hook.url), log);
    const id = spikeIncident(1, "isValidSlug", Date.now());
    expect(alerts.notify(id)).toBe(true);
    // The same incident again (redelivery, the spike's end, a later regression check) and after a restart.
    expect(alerts.notify(id)).toBe(false);
    await alerts.drain();
    const again = new WebhookAlerts(db, settings(hook.url), log);
    expect(again.notify(id)).toBe(false);
    again.resumePending();
    await again.drain();
    expect(hook.bodies).toHaveLength(1);
    expect(validate(hook.bodies[0]), JSON.stringify(validate.errors)).toBe(true);
    expect(hook.bodies[0]).toMatchObject({ schema: "seismo.alert.v1", id, kind: "cpu_spike", service: "shop", culprits: [{ name: "isValidSlug", line: 21 }] });
    expect(db.prepare("SELECT status, attempts FROM alerts WHERE incident_id = ?").get(id)).toEqual({ status: "sent", attempts: 1 });
  });

  it("pages once for a flapping function: the same culprit again within the cool-down is stored, not sent", async () => {
    const hook = await receiver();
    receivers.push(hook);
    let now = Date.now();
    const alerts = new WebhookAlerts(db, settings(hook.url, { coolDownMs: 3_600_000 }), log, undefined, () => now);
    const flaps = [1, 2, 3, 4, 5].map((n) => spikeIncident(n, "isValidSlug", now + n * 120_000));
    for (const id of flaps) {
      alerts.notify(id);
      now += 120_000;
    }
    // Another culprit is another alert.
    alerts.notify(spikeIncident(6, "reconcileLedger", now));
    await alerts.drain();
    expect(hook.bodies.map((b) => (b as { id: string }).id)).toEqual([flaps[0], incidentId("cpu_spike", "spike-6")]);
    const suppressed = db.prepare("SELECT detail FROM alerts WHERE status = 'suppressed' ORDER BY created_at_ms").all() as Array<{ detail: string }>;
    expect(suppressed).toHaveLength(4);
    expect(suppressed[0]?.detail).toMatch(/^cool-down: the same culprit alerted 2 min ago \(spk-/);
    // After the cool-down, the same culprit alerts again.
    now += 3_600_000;
    alerts.notify(spikeIncident(7, "isValidSlug", now));
    await alerts.drain();
    expect(hook.bodies).toHaveLength(3);
  });

  it("retries a failing receiver with back-off, gives up on a 4xx at once, and never logs the URL's secret", async () => {
    const flaky = await receiver([500, 503]);
    const wrong = await receiver([404]);
    receivers.push(flaky, wrong);
    const id = spikeIncident(1, "isValidSlug", Date.now());
    const alerts = new WebhookAlerts(db, settings(flaky.url), log);
    alerts.notify(id);
    await alerts.drain();
    expect(flaky.bodies).toHaveLength(3);
    expect(db.prepare("SELECT status, attempts FROM alerts WHERE incident_id = ?").get(id)).toEqual({ status: "sent", attempts: 3 });
    const other = spikeIncident(2, "reconcileLedger", Date.now());
    const failing = new WebhookAlerts(db, settings(wrong.url), log);
    failing.notify(other);
    await failing.drain();
    expect(wrong.bodies).toHaveLength(1);
    expect(db.prepare("SELECT status, detail FROM alerts WHERE incident_id = ?").get(other)).toEqual({ status: "failed", detail: "HTTP 404" });
    expect(logs.join("\n")).toMatch(/not delivered to http:\/\/127\.0\.0\.1:\d+\/…: HTTP 404/);
    expect(logs.join("\n")).not.toContain("SECRET-PATH");
    expect(redactWebhookUrl("https://hooks.slack.com/services/T0/B0/XXXX")).toBe("https://hooks.slack.com/…");
  });

  it("keeps an alert it could not finish for the next start, and speaks Slack when asked", async () => {
    const down = await receiver([500, 500, 500]);
    receivers.push(down);
    const id = spikeIncident(1, "isValidSlug", Date.now());
    const first = new WebhookAlerts(db, settings(down.url, { retryDelaysMs: [60_000] }), log);
    first.notify(id);
    while (down.bodies.length === 0) await new Promise((r) => setTimeout(r, 10));
    const stopped = Date.now();
    await first.stop(); // during the 60 s back-off
    expect(Date.now() - stopped).toBeLessThan(1_000);
    expect(db.prepare("SELECT status FROM alerts WHERE incident_id = ?").get(id)).toEqual({ status: "pending" });
    const slack = await receiver();
    receivers.push(slack);
    const next = new WebhookAlerts(db, settings(slack.url, { format: "slack" }), log);
    next.resumePending();
    await next.drain();
    expect(slack.bodies).toHaveLength(1);
    const { text } = slack.bodies[0] as { text: string };
    expect(text).toMatch(/^\*CPU spike in shop\* \(spk-[0-9a-f]{10}\)\n/);
    expect(text).toContain("`isValidSlug` (src/slug.js:21): 1.0 % → 80.0 % of CPU");
    expect(text).toContain(`seismo show ${id}`);
  });
});
