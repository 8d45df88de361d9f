import { createHash } from "node:crypto";
import { filePathOfScriptUrl } from "../sampler/package-of.js";
import type { DeinlineSources } from "./deinline.js";
import type { FunctionTable } from "./function-table.js";
import { buildFunctionTable } from "./function-table.js";

/** Reads a file as the target sees it, with a cheap version stamp (mtime and size); undefined when unreadable. Does I/O. */
export interface ScriptFiles {
  stamp(path: string): string | undefined;
  read(path: string): string | undefined;
}

export interface ScriptTableOptions {
  /** Source bytes parsed per window at most; scripts past it wait for a later window. */
  parseBudgetBytes: number;
  /** Larger files are never parsed. */
  maxFileBytes: number;
  /** Tables kept (by content hash). */
  cachedTables: number;
}


export const DEFAULT_SCRIPT_TABLE_OPTIONS: ScriptTableOptions = {
  parseBudgetBytes: 8 * 1024 * 1024,
  maxFileBytes: 16 * 1024 * 1024,
  cachedTables: 512,
};

interface PathEntry {
  stamp: string;
  hash: string | undefined;
}

export interface ScriptTableCounters {
  parsed: number;
  parsedBytes: number;
  parseMs: number;
  cacheHits: number;
}

/**
 * Function tables of one target's scripts, by URL: read through the target's
 * own view of the filesystem, parsed once per content (hash) and re-read only
 * when the file's stamp changes. Node internals and eval code have no file and
 * no table. The file on disk is taken to be what the process loaded; a file
 * replaced under a running process shows as frames without a function
 * (DeinlineStats.framesUnmatched), which are then left as V8 gave them.
 */
export class ScriptTables {
  private readonly byPath = new Map<string, PathEntry>();
  private readonly byHash = new Map<string, FunctionTable | undefined>();
  private budget: number;
  readonly counters: ScriptTableCounters = { parsed: 0, parsedBytes: 0, parseMs: 0, cacheHits: 0 };

  constructor(
    private readonly files: ScriptFiles,
    private readonly options: ScriptTableOptions = DEFAULT_SCRIPT_TABLE_OPTIONS,
  ) {
    this.budget = options.parseBudgetBytes;
  }

  /** The sources for one window's de-inlining: resets the window's parse budget. */
  forWindow(): DeinlineSources {
    this.budget = this.options.parseBudgetBytes;
    const seen = new Map<string, FunctionTable | undefined>();
    return {
      tableOf: (url) => {
        if (seen.has(url)) return seen.get(url);
        const table = this.tableOf(url);
        seen.set(url, table);
        return table;
      },
    };
  }

  /** A script's table outside any window's budget (one script, when a location is mapped). */
  tableOf(url: string): FunctionTable | undefined {
    const path = filePathOfScriptUrl(url);
    if (!path) return undefined;
    const stamp = this.files.stamp(path);
    if (stamp === undefined) return undefined;
    const known = this.byPath.get(path);
    if (known && known.stamp === stamp && known.hash !== undefined && this.byHash.has(known.hash)) {
      this.counters.cacheHits++;
      return this.byHash.get(known.hash);
    }
    const text = this.files.read(path);
    if (text === undefined || text.length > this.options.maxFileBytes) {
      this.byPath.set(path, { stamp, hash: undefined });
      return undefined;
    }
    const hash = createHash("sha1").update(text).digest("hex");
    this.byPath.set(path, { stamp, hash });
    if (this.byHash.has(hash)) {
      this.counters.cacheHits++;
      return this.byHash.get(hash);
    }
    if (text.length > this.budget) {
      // Over this window's budget: the path is remembered without a table, so the next window parses it.
      this.byPath.delete(path);
      return undefined;
    }
    this.budget -= text.length;
    const started = performance.now();
    const table = buildFunctionTable(text);
    this.counters.parseMs += performance.now() - started;
    this.counters.parsed++;
    this.counters.parsedBytes += text.length;
    this.byHash.set(hash, table);
    if (this.byHash.size > this.options.cachedTables) this.byHash.delete(this.byHash.keys().next().value as string);
    if (this.byPath.size > this.options.cachedTables * 4) this.byPath.delete(this.byPath.keys().next().value as string);
    return table;
  }
}
