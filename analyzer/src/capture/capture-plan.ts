import { isAnonymousName } from "@seismo/agent-proto";
import type { IncidentView } from "../incidents/incident.js";

/** Where to capture values for an incident: a function of the app's own code. */
export interface CapturePlan {
  incidentId: string;
  service: string;
  file: string;
  functionName: string;
  line: number | null;
}

/**
 * The function whose values explain an incident, pure: the app frame of the
 * first culprit that has one (the culprit itself when it is app code; the
 * app function that calls into a package or a built-in otherwise). Code in
 * node_modules, Node's own code and native frames are not captured: the app
 * frame says what the app asked of them. An anonymous function is, by the
 * line it is declared on.
 */
export function capturePlan(incident: IncidentView): CapturePlan | undefined {
  for (const culprit of incident.culprits) {
    const frame = culprit.appFrame;
    if (!frame?.file || !frame.name) continue;
    // An anonymous function is captured by where it is declared; "(program)" and the like are not code.
    if (frame.name.startsWith("(") && !(isAnonymousName(frame.name) && frame.line)) continue;
    if (!frame.file.startsWith("/") || frame.file.includes("/node_modules/")) continue;
    return { incidentId: incident.id, service: incident.service, file: frame.file, functionName: frame.name, line: frame.line };
  }
  return undefined;
}
