import { ANONYMOUS, isAnonymousName, isDistinctAnonymousName } from "@seismo/agent-proto";

/**
 * A function's identity across deployments. Line numbers move whenever code
 * above a function changes, and package versions change on upgrade, so
 * neither is part of it: a function is its package (or the app) + its file
 * within that + its name. An anonymous function named by a call that quotes
 * a literal (`(anonymous) router.get('/reports', …)`) is told apart by that;
 * other anonymous functions have nothing else to go by and keep their line:
 * an edit above one makes it look like a new function.
 * Two functions with the same name in one file share an identity.
 */
export interface FunctionLocation {
  name: string;
  filePath: string;
  scriptUrl: string;
  line: number;
  packageName: string | null;
}

const NODE_MODULES = "/node_modules/";

export function stableFunctionKey(f: FunctionLocation): string {
  const where = f.filePath || f.scriptUrl;
  let file = where;
  if (f.packageName) {
    const at = where.lastIndexOf(`${NODE_MODULES}${f.packageName}/`);
    file = at >= 0 ? `${f.packageName}/${where.slice(at + NODE_MODULES.length + f.packageName.length + 1)}` : where;
  }
  const name = isAnonymousName(f.name) && !isDistinctAnonymousName(f.name) ? `${f.name || ANONYMOUS}@${f.line}` : f.name;
  return `${f.packageName ? "pkg" : "app"}:${file}:${name}`;
}
