import { fileURLToPath, pathToFileURL } from "node:url";
import type { TraceMap as TraceMapType } from "@jridgewell/trace-mapping";
import { generatedPositionFor, GREATEST_LOWER_BOUND, LEAST_UPPER_BOUND, originalPositionFor, TraceMap } from "@jridgewell/trace-mapping";
import { filePathOfScriptUrl } from "../sampler/package-of.js";
import { shownName } from "./anonymous-names.js";
import type { FunctionTable, ScriptFunction } from "./function-table.js";
import type { ScriptFiles } from "./script-tables.js";

/** Where code people wrote sits, as its source map says: a TypeScript file, a module inside a bundle. */
export interface OriginalLocation {
  /** file:// URL of the original source (or the map's own source name when it is not a path). */
  url: string;
  /** Filesystem path of the original source; "" when the map's source is not a path. */
  filePath: string;
  /** 1-based. */
  line: number;
  /** 1-based. */
  column: number;
  /** The original name, from the map's `names`, when the map has one there. */
  name?: string;
}

export interface SourceMapOptions {
  /** Maps larger than this are not read (bytes of JSON). */
  maxMapBytes: number;
  /** Generated scripts whose map (or its absence) is remembered. */
  cachedScripts: number;
}

export const DEFAULT_SOURCE_MAP_OPTIONS: SourceMapOptions = { maxMapBytes: 64 * 1024 * 1024, cachedScripts: 512 };

interface Loaded {
  stamp: string;
  map: TraceMapType | undefined;
}

/** How the daemon counts what source maps cost. */
export interface SourceMapCounters {
  mapsLoaded: number;
  loadMs: number;
  mapErrors: number;
}

/**
 * The source maps of the target's scripts: a `//# sourceMappingURL=` at the
 * end of a generated file, pointing to a .map file beside it (resolved
 * against the script) or carrying the map inline as a data: URL. Read through
 * the target's view of the filesystem, once per version of the script (its
 * stamp). The mapping itself is @jridgewell/trace-mapping's. A script with no
 * map, or one that cannot be read, is remembered as such and shown as V8 gave it.
 */
export class SourceMaps {
  private readonly scripts = new Map<string, Loaded>();
  /** Original source URL → the generated scripts whose maps name it. */
  private readonly generatedOf = new Map<string, Set<string>>();
  readonly counters: SourceMapCounters = { mapsLoaded: 0, loadMs: 0, mapErrors: 0 };

  constructor(
    private readonly files: ScriptFiles,
    /** The generated scripts' function tables (ScriptTables.tableOf): a function is named at its identifier. */
    private readonly tableOf: (url: string) => FunctionTable | undefined,
    private readonly options: SourceMapOptions = DEFAULT_SOURCE_MAP_OPTIONS,
  ) {}

  /** The map of a generated script URL, if it has one. */
  mapOf(url: string): TraceMapType | undefined {
    const path = filePathOfScriptUrl(url);
    if (!path) return undefined;
    const stamp = this.files.stamp(path);
    if (stamp === undefined) return undefined;
    const known = this.scripts.get(path);
    if (known && known.stamp === stamp) return known.map;
    const started = performance.now();
    const map = this.load(path);
    this.counters.loadMs += performance.now() - started;
    this.scripts.set(path, { stamp, map });
    if (this.scripts.size > this.options.cachedScripts) this.scripts.delete(this.scripts.keys().next().value as string);
    return map;
  }

  /**
   * The original location of a generated function: its header (V8's 0-based line and column of
   * the parameter list) mapped back, named by the map at its name's identifier when the map has
   * a name there (a minifier's renames), else keeping V8's name.
   */
  originalFunction(url: string, line: number, column: number): OriginalLocation | undefined {
    const map = this.mapOf(url);
    if (!map) return undefined;
    const at = lookup(map, line + 1, column);
    if (!at) return undefined;
    const fn = this.tableOf(url)?.functionAt(line, column);
    const named = fn ? lookup(map, fn.nameLine + 1, fn.nameColumn) : undefined;
    const name = named?.name ?? at.name;
    return { ...at, ...(name ? { name } : {}) };
  }

  /** The original line of a generated 1-based line: its first mapped position. */
  originalLine(url: string, line: number): OriginalLocation | undefined {
    const map = this.mapOf(url);
    return map ? lookup(map, line, 0, LEAST_UPPER_BOUND) : undefined;
  }

  /**
   * Where V8 runs an original function (a capture armed on `pricing.ts`'s `taxFor` must go to
   * dist/pricing.js or the bundle): the generated script and its function, found among the maps
   * loaded so far (those of scripts that showed in a profile).
   */
  generatedFunction(originalPath: string, name: string): { path: string; fn: ScriptFunction } | undefined {
    const originalUrl = pathToFileURL(originalPath).href;
    for (const url of this.generatedOf.get(originalUrl) ?? []) {
      const table = this.tableOf(url);
      if (!table) continue;
      for (const fn of table.functions) {
        const original = this.originalFunction(url, fn.line, fn.column);
        if (original?.url !== originalUrl || (original.name ?? shownName(fn)) !== name) continue;
        return { path: fileURLToPath(url), fn };
      }
    }
    return undefined;
  }

  /** The generated script and 1-based line and column of an original 1-based line. */
  generatedLine(originalPath: string, line: number): { path: string; line: number; column: number } | undefined {
    const originalUrl = pathToFileURL(originalPath).href;
    for (const url of this.generatedOf.get(originalUrl) ?? []) {
      const map = this.mapOf(url);
      if (!map) continue;
      const at = generatedPositionFor(map, { source: originalUrl, line, column: 0, bias: LEAST_UPPER_BOUND });
      if (at.line !== null) return { path: fileURLToPath(url), line: at.line, column: at.column + 1 };
    }
    return undefined;
  }

  /**
   * A stack frame as V8 prints it ("name (/app/dist/x.js:12:5)", "/app/dist/x.js:12:5") at the
   * original source when the script's map places it: "name (/app/src/x.ts:10:3)". Unchanged
   * otherwise (no map, Node's own code, a built-in).
   */
  originalFrame(frame: string): string {
    const match = STACK_FRAME.exec(frame);
    if (!match) return frame;
    const [, name, bare, location, line, column] = match as unknown as [string, string | undefined, string | undefined, string, string, string];
    const map = this.mapOf(location.startsWith("file://") ? location : pathToFileURL(location).href);
    const at = map ? lookup(map, Number(line), Number(column) - 1) : undefined;
    if (!at) return frame;
    const place = `${at.filePath || at.url}:${at.line}:${at.column}`;
    return name ? `${name} (${place})` : `${bare ?? ""}${place}`;
  }

  private load(path: string): TraceMapType | undefined {
    const text = this.files.read(path);
    if (text === undefined) return undefined;
    const reference = mappingUrlOf(text);
    if (!reference) return undefined;
    try {
      let json: string | undefined;
      let mapUrl: string;
      if (reference.startsWith("data:")) {
        json = decodeDataUrl(reference);
        mapUrl = pathToFileURL(path).href;
      } else {
        const resolved = new URL(reference, pathToFileURL(path));
        if (resolved.protocol !== "file:") return undefined;
        mapUrl = resolved.href;
        json = this.files.read(fileURLToPath(resolved));
      }
      if (json === undefined || json.length > this.options.maxMapBytes) return undefined;
      const map = new TraceMap(json, mapUrl);
      this.counters.mapsLoaded++;
      const generatedUrl = pathToFileURL(path).href;
      for (const source of map.resolvedSources) {
        if (!source) continue;
        const list = this.generatedOf.get(source) ?? new Set<string>();
        list.add(generatedUrl);
        this.generatedOf.set(source, list);
      }
      return map;
    } catch {
      // A map that does not parse is as good as none: the generated location is shown.
      this.counters.mapErrors++;
      return undefined;
    }
  }
}

// "name (/abs/file.js:12:5)", "name (file:///abs/file.mjs:12:5)", "/abs/file.js:12:5", "async /abs/file.js:12:5".
const STACK_FRAME = /^(?:(.*?) \(|(async ))?((?:file:\/\/)?\/[^()]*?):(\d+):(\d+)\)?$/;

function lookup(map: TraceMapType, line: number, column: number, bias: typeof GREATEST_LOWER_BOUND | typeof LEAST_UPPER_BOUND = GREATEST_LOWER_BOUND): OriginalLocation | undefined {
  let found = originalPositionFor(map, { line, column, bias });
  if (found.source === null && bias === GREATEST_LOWER_BOUND) found = originalPositionFor(map, { line, column, bias: LEAST_UPPER_BOUND });
  if (found.source === null) return undefined;
  const filePath = found.source.startsWith("file://") ? safePath(found.source) : "";
  return { url: found.source, filePath, line: found.line, column: found.column + 1, ...(found.name ? { name: found.name } : {}) };
}

function safePath(url: string): string {
  try {
    return fileURLToPath(url);
  } catch {
    return "";
  }
}

const MAPPING_URL = /[#@]\s*sourceMappingURL=(\S+)\s*(?:\*\/)?\s*$/;

/** The last sourceMappingURL comment of a script, if it ends with one. */
export function mappingUrlOf(text: string): string | undefined {
  const at = Math.max(text.lastIndexOf("//# sourceMappingURL="), text.lastIndexOf("//@ sourceMappingURL="), text.lastIndexOf("/*# sourceMappingURL="));
  if (at < 0) return undefined;
  return MAPPING_URL.exec(text.slice(at))?.[1];
}

function decodeDataUrl(url: string): string {
  const comma = url.indexOf(",");
  const meta = url.slice(5, comma);
  const body = url.slice(comma + 1);
  return meta.endsWith(";base64") ? Buffer.from(body, "base64").toString("utf8") : decodeURIComponent(body);
}
