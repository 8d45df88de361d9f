import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { Deployment, StatefulSet } from "kubernetes-models/apps/v1";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";
import { PersistentVolumeClaim, Service } from "kubernetes-models/v1";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const K8S = join(ROOT, "deploy", "k8s");

/** Validators from the Kubernetes OpenAPI schemas that kubernetes-models ships: no network at test time. */
const MODELS: Record<string, new (data: never) => { validate(): void }> = {
  "apps/v1/Deployment": Deployment,
  "apps/v1/StatefulSet": StatefulSet,
  "networking.k8s.io/v1/NetworkPolicy": NetworkPolicy,
  "v1/PersistentVolumeClaim": PersistentVolumeClaim,
  "v1/Service": Service,
};

interface Doc {
  file: string;
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  // A manifest is free-form: the schema validation checks its shape, the tests read fields.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  spec: any;
  resources?: string[];
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? yamlFiles(path) : name.endsWith(".yaml") ? [path] : [];
  });
}

const docs: Doc[] = yamlFiles(K8S).flatMap((file) =>
  parseAllDocuments(readFileSync(file, "utf8")).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${relative(ROOT, file)}: ${doc.errors[0]?.message}`);
    return { ...(doc.toJS() as Omit<Doc, "file">), file: relative(K8S, file) };
  }),
);
/** The object as written, without the file name the test keeps beside it. */
function withoutFile(doc: Doc): Omit<Doc, "file"> {
  const object: Partial<Doc> = { ...doc };
  delete object.file;
  return object as Omit<Doc, "file">;
}

const named = (kind: string, name: string): Doc => {
  const doc = docs.find((d) => d.kind === kind && d.metadata?.name === name);
  if (!doc) throw new Error(`no ${kind} ${name} in deploy/k8s`);
  return doc;
};

describe("deploy/k8s", () => {
  it("every object validates against the Kubernetes schemas, and every kustomization names files that exist", () => {
    const objects = docs.filter((d) => d.kind !== "Kustomization");
    expect(objects.map((d) => `${d.kind}/${d.metadata.name}`).sort()).toEqual([
      "Deployment/seismo-analyzer",
      "Deployment/shop",
      "NetworkPolicy/seismo-nats",
      "PersistentVolumeClaim/seismo-analyzer-data",
      "Service/seismo-analyzer",
      "Service/seismo-nats",
      "StatefulSet/seismo-nats",
    ]);
    for (const doc of objects) {
      const Model = MODELS[`${doc.apiVersion}/${doc.kind}`];
      expect(Model, `${doc.file}: no schema for ${doc.apiVersion} ${doc.kind}`).toBeDefined();
      expect(() => new (Model as NonNullable<typeof Model>)(withoutFile(doc) as never).validate(), doc.file).not.toThrow();
    }
    for (const kustomization of docs.filter((d) => d.kind === "Kustomization")) {
      expect(kustomization.apiVersion).toBe("kustomize.config.k8s.io/v1beta1");
      for (const resource of kustomization.resources ?? []) expect(existsSync(join(K8S, dirname(kustomization.file), resource)), `${kustomization.file}: ${resource}`).toBe(true);
    }
  });

  it("a schema error is caught (the validation is not a no-op)", () => {
    const analyzer = structuredClone(named("Deployment", "seismo-analyzer"));
    analyzer.spec.template.spec.containers[0].ports[0].containerPort = "9478";
    expect(() => new Deployment(withoutFile(analyzer) as never).validate()).toThrow(/containerPort must be integer/);
  });

  it("the sidecar: shared PID namespace, the app's user, non-root, read-only, no privilege escalation, resources, probes on its health port", () => {
    const pod = named("Deployment", "shop").spec.template.spec;
    expect(pod.shareProcessNamespace).toBe(true);
    const [app, sidecar] = pod.containers;
    expect(sidecar.args.slice(0, 2)).toEqual(["daemon", "--discover"]);
    expect(sidecar.securityContext).toMatchObject({ runAsUser: pod.securityContext.runAsUser, runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(app.securityContext?.runAsUser ?? pod.securityContext.runAsUser).toBe(sidecar.securityContext.runAsUser);
    expect(sidecar.resources.requests).toBeDefined();
    expect(sidecar.resources.limits).toBeDefined();
    const port = Number(sidecar.args[sidecar.args.indexOf("--health-port") + 1]);
    expect(sidecar.ports).toEqual([{ name: "health", containerPort: port }]);
    expect(sidecar.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "health" });
    expect(sidecar.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "health" });
  });

  it("the analyzer: a volume, a Service and probes on its health port; NATS: JetStream on a volume; only Seismo's pods may reach NATS", () => {
    const analyzer = named("Deployment", "seismo-analyzer").spec.template;
    const container = analyzer.spec.containers[0];
    expect(analyzer.spec.volumes[0].persistentVolumeClaim.claimName).toBe("seismo-analyzer-data");
    expect(container.args).toContain("--health-port");
    expect(container.readinessProbe.httpGet.path).toBe("/readyz");
    expect(named("Service", "seismo-analyzer").spec.selector).toEqual({ "app.kubernetes.io/name": "seismo-analyzer" });
    const nats = named("StatefulSet", "seismo-nats").spec;
    expect(nats.template.spec.containers[0].args).toContain("-js");
    expect(nats.volumeClaimTemplates[0].metadata.name).toBe("data");

    const policy = named("NetworkPolicy", "seismo-nats").spec;
    expect(policy.podSelector.matchLabels).toEqual(nats.selector.matchLabels);
    expect(policy.policyTypes).toEqual(["Ingress"]);
    const clientLabel = { "seismo.dev/nats-client": "true" };
    for (const rule of policy.ingress) for (const from of rule.from) expect(from.podSelector.matchLabels).toEqual(clientLabel);
    // The pods that must get through carry the label.
    expect(analyzer.metadata.labels).toMatchObject(clientLabel);
    expect(named("Deployment", "shop").spec.template.metadata.labels).toMatchObject(clientLabel);
  });

  it("the Dockerfile: a build stage and a non-root runtime stage with a health check", () => {
    const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
    expect([...dockerfile.matchAll(/^FROM \S+ AS (\w+)$/gm)].map((m) => m[1])).toEqual(["build", "runtime"]);
    const runtime = dockerfile.slice(dockerfile.indexOf("AS runtime"));
    expect(runtime).toMatch(/^USER node$/m);
    expect(runtime).toMatch(/^HEALTHCHECK /m);
    expect(runtime).toMatch(/^ENTRYPOINT \["node", "\/opt\/seismo\/cli\/bin\/seismo\.js"\]$/m);
  });
});
