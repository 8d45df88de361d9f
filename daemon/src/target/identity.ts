import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, extname, isAbsolute, join } from "node:path";
import { isSecretName, REDACTED, redactString } from "../capture/redaction.js";
import { inTargetExpression } from "../in-target/script.js";
import type { RawTargetFacts } from "../in-target/target-facts.js";
import { describeTarget } from "../in-target/target-facts.js";

/** What the target says about itself when asked over the inspector (in-target/target-facts.ts). */
export type TargetFacts = RawTargetFacts;

/** Evaluated in the target: reads only, returns a JSON string, throws nothing. */
export const TARGET_FACTS_EXPRESSION = inTargetExpression(describeTarget, null);

export interface IdentityInputs {
  flagService?: string | undefined;
  flagDeployment?: string | undefined;
  /** The target's start-up environment, when /proc lets us read it. */
  env: Map<string, string>;
  facts: TargetFacts;
  /** Reads a file as the target sees it (through /proc/<pid>/root in a shared PID namespace). */
  readTargetFile?: (path: string) => string | undefined;
  /** Kubernetes pod labels (downward API), when mounted. */
  podLabels?: Map<string, string>;
}

export interface Identity {
  service: string;
  /** "" when nothing names it: the sensor then fingerprints the code (see code-fingerprint.ts). */
  deployment: string;
  /** Where the deployment came from: "flag", "env:GIT_SHA", "label:pod-template-hash", or "none". */
  deploymentSource: string;
}

const SERVICE_VARS = ["SEISMO_SERVICE", "OTEL_SERVICE_NAME", "DD_SERVICE"];
const DEPLOYMENT_VARS = [
  "SEISMO_DEPLOYMENT",
  "DD_VERSION",
  "OTEL_SERVICE_VERSION",
  "GIT_COMMIT",
  "GIT_SHA",
  "COMMIT_SHA",
  "SOURCE_VERSION",
  "IMAGE_TAG",
];

/** Pod labels naming the service, and the release (a Deployment's pod-template-hash changes with every rollout). */
const SERVICE_LABELS = ["app.kubernetes.io/name", "app"];
const DEPLOYMENT_LABELS = ["app.kubernetes.io/version", "version", "pod-template-hash", "controller-revision-hash"];

/**
 * Service: flag, else the target's SEISMO_SERVICE (or OTel/Datadog name), else
 * the pod's app label, else the name in the package.json beside its main
 * script, else the script's name.
 * Deployment: flag, else the first of the usual release variables in the
 * target's environment, else the pod's version or pod-template-hash label,
 * else "" (and the sensor fingerprints the code).
 */
export function resolveIdentity(inputs: IdentityInputs): Identity {
  const first = (names: string[], from: Map<string, string>): [string, string] | undefined => {
    for (const name of names) {
      const value = from.get(name);
      if (value && value.trim() !== "") return [name, value];
    }
    return undefined;
  };
  const labels = inputs.podLabels ?? new Map<string, string>();
  const service =
    inputs.flagService || first(SERVICE_VARS, inputs.env)?.[1] || first(SERVICE_LABELS, labels)?.[1] || packageNameNearScript(inputs) || scriptName(inputs.facts) || "node";
  if (inputs.flagDeployment !== undefined) return { service, deployment: inputs.flagDeployment, deploymentSource: "flag" };
  const env = first(DEPLOYMENT_VARS, inputs.env);
  if (env) return { service, deployment: env[1], deploymentSource: `env:${env[0]}` };
  const label = first(DEPLOYMENT_LABELS, labels);
  if (label) return { service, deployment: label[1], deploymentSource: `label:${label[0]}` };
  return { service, deployment: "", deploymentSource: "none" };
}

/** The target's main script as an absolute path, when it has one. */
export function mainScript(facts: TargetFacts): string | undefined {
  const script = facts.argv[1];
  if (!script) return undefined;
  return isAbsolute(script) ? script : join(facts.cwd, script);
}

function scriptName(facts: TargetFacts): string | undefined {
  const script = mainScript(facts);
  return script ? basename(script, extname(script)) : undefined;
}

function packageNameNearScript(inputs: IdentityInputs): string | undefined {
  const script = mainScript(inputs.facts);
  const read = inputs.readTargetFile;
  if (!script || !read) return undefined;
  for (let dir = dirname(script), depth = 0; depth < 6; dir = dirname(dir), depth++) {
    const text = read(join(dir, "package.json"));
    if (text !== undefined) {
      try {
        const name = (JSON.parse(text) as { name?: unknown }).name;
        return typeof name === "string" && name ? name : undefined;
      } catch {
        return undefined;
      }
    }
    if (dir === dirname(dir)) break;
  }
  return undefined;
}

/** Files of a process in another mount namespace are reachable under /proc/<pid>/root. */
export function targetFileReader(pid: number | undefined): (path: string) => string | undefined {
  const prefix = pid !== undefined && existsSync(`/proc/${pid}/root`) ? `/proc/${pid}/root` : "";
  return (path) => {
    for (const candidate of prefix ? [prefix + path, path] : [path]) {
      try {
        return readFileSync(candidate, "utf8");
      } catch {
        // try the next view of the filesystem
      }
    }
    return undefined;
  };
}

/**
 * argv as safe to publish, by the same rules as captured values (capture/redaction.ts): values of
 * secret-looking flags (--api-key=..., --token x, --smtp-pass x), NAME=value pairs with
 * secret-looking names, and secret-looking values anywhere (URLs with credentials, JWTs, tokens).
 */
export function redactArgv(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i] as string;
    const eq = word.indexOf("=");
    const name = eq > 0 ? word.slice(0, eq) : word;
    const flag = name.replace(/^-+/, "");
    if (eq > 0 && isSecretName(flag)) out.push(`${name}=${REDACTED}`);
    else if (word.startsWith("-") && eq < 0 && isSecretName(flag) && i + 1 < argv.length && !(argv[i + 1] as string).startsWith("-")) {
      out.push(word, REDACTED);
      i++;
    } else out.push(redactString(word));
  }
  return out;
}
