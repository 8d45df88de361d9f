import { listDeployments, openDatabaseReadOnly } from "@seismo/analyzer";
import { verbArgs } from "../verb-args.js";
import { DB_HELP, DB_OPTION, dbPath } from "../options.js";

export const DEPLOYMENTS_HELP = `Usage: seismo deployments [--service NAME] [--json] [--db PATH]

The deployments each service ran, in the order they were first seen, with how
many profile windows and processes each has. A deployment is the label the
sensor found: --deployment, else the app's SEISMO_DEPLOYMENT, GIT_SHA,
IMAGE_TAG, ..., else the pod's app.kubernetes.io/version or pod-template-hash
label (Kubernetes downward API), else "code-" and a fingerprint of the app's
source files and lockfile, so that a redeploy of changed code is a new
deployment even when nobody labels it. Compare two with \`seismo diff\`.

Options:
  --service NAME       only this service
  --json               a JSON array: service, deployment, firstSeenAt, lastSeenAt,
                       windows, targets, cpuMs
${DB_HELP}
  -h, --help           this help`;

export async function deploymentsCommand(args: string[], out: (text: string) => void): Promise<number> {
  const parsed = verbArgs("deployments", args, { ...DB_OPTION, service: { type: "string" }, json: { type: "boolean" } }, DEPLOYMENTS_HELP, out);
  if (!parsed) return 0;
  const { values } = parsed;
  const db = openDatabaseReadOnly(dbPath(values.db));
  try {
    const rows = listDeployments(db, { service: values.service });
    if (values.json) out(JSON.stringify(rows, null, 2));
    else if (rows.length === 0) out("No profile windows in the database yet.");
    else {
      out("SERVICE  DEPLOYMENT  FIRST SEEN  LAST SEEN  WINDOWS  PROCESSES");
      for (const r of rows) {
        out(`${r.service}  ${r.deployment || "(none)"}  ${r.firstSeenAt}  ${r.lastSeenAt}  ${r.windows}  ${r.targets}`);
      }
    }
  } finally {
    db.close();
  }
  return 0;
}
