import { fileURLToPath } from "node:url";

/** The filesystem path of a V8 script URL, or "" for node: internals, eval code and the like. */
export function filePathOfScriptUrl(url: string): string {
  if (url.startsWith("file://")) {
    try {
      return fileURLToPath(url);
    } catch {
      return "";
    }
  }
  return url.startsWith("/") ? url : "";
}

export interface PackageLocation {
  name: string;
  /** The package's directory: where its package.json is. */
  root: string;
}

const NODE_MODULES = "/node_modules/";

/**
 * The npm package a file belongs to, from its path alone: the segment after the
 * last node_modules (two segments for @scope/name). Nested installs resolve to
 * the innermost package, which is the one whose code is running.
 */
export function packageOfPath(path: string): PackageLocation | undefined {
  const at = path.lastIndexOf(NODE_MODULES);
  if (at < 0) return undefined;
  const rest = path.slice(at + NODE_MODULES.length).split("/");
  const first = rest[0];
  if (!first || rest.length < 2) return undefined;
  const scoped = first.startsWith("@");
  const second = rest[1];
  if (scoped && (!second || rest.length < 3)) return undefined;
  const name = scoped ? `${first}/${second}` : first;
  return { name, root: path.slice(0, at + NODE_MODULES.length) + name };
}
