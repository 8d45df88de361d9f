import type { Node } from "acorn";
import { parse } from "acorn";

/**
 * Where every function of one script sits, from its source: the table that
 * turns a V8 tick line back into the function that line belongs to. Pure.
 *
 * V8 reports a sampled line but no column and, for inlined code, no function
 * (see deinline.ts), so ownership is decided per line: a line belongs to the
 * innermost function that covers it. Two functions side by side on one line
 * (a minified bundle, `a = () => 1, b = () => 2`) make that line ambiguous,
 * and a nested function that starts or ends on a line of its parent shares it.
 */
export interface ScriptFunction {
  index: number;
  /** The name V8 would give it: declared, or inferred from what it is assigned to; "" when anonymous. */
  name: string;
  /** 0-based line and column of the parameter list, where V8's call frames place a function. */
  line: number;
  column: number;
  /** 1-based lines, inclusive: the whole function, header to closing brace. */
  startLine: number;
  endLine: number;
  /** Index of the enclosing function; -1 at the script's top level. */
  parent: number;
  depth: number;
  /** Names this function calls directly (`f()`, `x.f()`, `new F()`), not counting its nested functions' bodies. */
  calls: ReadonlySet<string>;
}

/** No function covers the line: it is the script's top-level code. */
export const TOP_LEVEL = -1;
/** Two or more functions that are not nested in each other share the line. */
export const AMBIGUOUS = -2;

export interface FunctionTable {
  functions: ScriptFunction[];
  lineCount: number;
  /** Per 1-based line: the owning function's index, TOP_LEVEL or AMBIGUOUS. */
  ownerOfLine(line: number): number;
  /** Every function at the deepest level on the line (more than one when AMBIGUOUS). */
  deepestOnLine(line: number): number[];
  /** True when the owner starts or ends on the line, so its parent has code there too. */
  sharedLine(line: number): boolean;
  /** The function V8 reports at this 0-based position (its parameter list), if any. */
  functionAt(line: number, column: number): ScriptFunction | undefined;
  /** True when `inner` is `outer` or nested inside it. */
  within(inner: number, outer: number): boolean;
  /** Functions of that name in the script. */
  named(name: string): readonly ScriptFunction[];
}

type AnyNode = Node & Record<string, unknown>;

const FUNCTION_TYPES = new Set(["FunctionDeclaration", "FunctionExpression", "ArrowFunctionExpression"]);

/** Parses a script (CommonJS, ES module, or a bundle); undefined when it is not JavaScript acorn can read. */
export function buildFunctionTable(source: string): FunctionTable | undefined {
  const ast = parseProgram(source);
  if (!ast) return undefined;
  const lineStarts = lineStartsOf(source);
  const lineOf = (offset: number): number => lineIndexOf(lineStarts, offset);
  const functions: ScriptFunction[] = [];
  const calls: Array<Set<string>> = [];
  const byHeader = new Map<number, number>();

  const visit = (node: AnyNode, parentNode: AnyNode | undefined, enclosing: number, depth: number): void => {
    let inside = enclosing;
    let innerDepth = depth;
    if (FUNCTION_TYPES.has(node.type)) {
      const header = headerOffset(node, source);
      const headerLine = lineOf(header);
      const index = functions.length;
      const own = new Set<string>();
      calls.push(own);
      functions.push({
        index,
        name: nameOf(node, parentNode),
        line: headerLine,
        column: header - (lineStarts[headerLine] as number),
        startLine: lineOf(node.start) + 1,
        endLine: lineOf(Math.max(node.start, node.end - 1)) + 1,
        parent: enclosing,
        depth,
        calls: own,
      });
      byHeader.set(header, index);
      inside = index;
      innerDepth = depth + 1;
    } else if ((node.type === "CallExpression" || node.type === "NewExpression") && enclosing >= 0) {
      const called = calleeName(node.callee as AnyNode);
      if (called) calls[enclosing]?.add(called);
    }
    for (const key of Object.keys(node)) {
      if (key === "type" || key === "start" || key === "end" || key === "loc") continue;
      const value = node[key];
      if (Array.isArray(value)) {
        for (const child of value) if (isNode(child)) visit(child, node, inside, innerDepth);
      } else if (isNode(value)) visit(value, node, inside, innerDepth);
    }
  };
  visit(ast, undefined, TOP_LEVEL, 0);

  const lineCount = lineStarts.length;
  // Per line, the deepest functions covering it. Work is the sum of the functions' line spans.
  const owner = new Int32Array(lineCount + 1).fill(TOP_LEVEL);
  const ownerDepth = new Int32Array(lineCount + 1).fill(-1);
  const extra = new Map<number, number[]>();
  for (const fn of functions) {
    for (let line = fn.startLine; line <= fn.endLine; line++) {
      const at = ownerDepth[line] as number;
      if (fn.depth > at) {
        owner[line] = fn.index;
        ownerDepth[line] = fn.depth;
        extra.delete(line);
      } else if (fn.depth === at) {
        const others = extra.get(line) ?? [owner[line] as number];
        others.push(fn.index);
        extra.set(line, others);
        owner[line] = AMBIGUOUS;
      }
    }
  }
  const byName = new Map<string, ScriptFunction[]>();
  for (const fn of functions) {
    if (!fn.name) continue;
    const list = byName.get(fn.name) ?? [];
    list.push(fn);
    byName.set(fn.name, list);
  }

  const ownerOfLine = (line: number): number => (line >= 1 && line <= lineCount ? (owner[line] as number) : TOP_LEVEL);
  return {
    functions,
    lineCount,
    ownerOfLine,
    deepestOnLine: (line) => {
      const at = ownerOfLine(line);
      if (at === AMBIGUOUS) return [...(extra.get(line) ?? [])];
      return at >= 0 ? [at] : [];
    },
    sharedLine: (line) => {
      const at = ownerOfLine(line);
      if (at < 0) return false;
      const fn = functions[at] as ScriptFunction;
      return fn.parent !== TOP_LEVEL && (fn.startLine === line || fn.endLine === line);
    },
    functionAt: (line, column) => {
      const start = lineStarts[line];
      if (start === undefined) return undefined;
      const index = byHeader.get(start + column);
      return index === undefined ? undefined : functions[index];
    },
    within: (inner, outer) => {
      for (let at = inner; at >= 0; at = (functions[at] as ScriptFunction).parent) if (at === outer) return true;
      return false;
    },
    named: (name) => byName.get(name) ?? [],
  };
}

function parseProgram(source: string): AnyNode | undefined {
  for (const sourceType of ["script", "module"] as const) {
    try {
      return parse(source, {
        ecmaVersion: "latest",
        sourceType,
        allowHashBang: true,
        allowReturnOutsideFunction: true,
        allowAwaitOutsideFunction: sourceType === "module",
      }) as unknown as AnyNode;
    } catch {
      // an ES module does not parse as a script: try the other
    }
  }
  return undefined;
}

function isNode(value: unknown): value is AnyNode {
  return typeof value === "object" && value !== null && typeof (value as { type?: unknown }).type === "string";
}

function lineStartsOf(source: string): number[] {
  const starts = [0];
  for (let at = source.indexOf("\n"); at >= 0; at = source.indexOf("\n", at + 1)) starts.push(at + 1);
  return starts;
}

/** 0-based line of an offset. */
function lineIndexOf(lineStarts: number[], offset: number): number {
  let low = 0;
  let high = lineStarts.length - 1;
  while (low < high) {
    const mid = (low + high + 1) >> 1;
    if ((lineStarts[mid] as number) <= offset) low = mid;
    else high = mid - 1;
  }
  return low;
}

/**
 * Where V8 places a function: its parameter list's "(" (measured on Node 20 to
 * 24 for declarations, expressions, arrows and methods), or the lone parameter
 * of `x => ...`.
 */
function headerOffset(node: AnyNode, source: string): number {
  const params = node.params as AnyNode[];
  const first = params[0];
  const from = ((node.id as AnyNode | null | undefined)?.end ?? node.start) as number;
  const until = first ? first.start : (node.body as AnyNode).start;
  const paren = source.indexOf("(", from);
  if (paren >= 0 && paren < until) return paren;
  return first && node.type === "ArrowFunctionExpression" ? first.start : node.start;
}

/** The name V8 infers: the declaration's, or that of the variable, property or member it is assigned to. */
function nameOf(node: AnyNode, parent: AnyNode | undefined): string {
  const id = node.id as AnyNode | null | undefined;
  if (id && typeof id.name === "string") return id.name;
  if (!parent) return "";
  switch (parent.type) {
    case "VariableDeclarator":
      return parent.init === node ? identifierName(parent.id as AnyNode) : "";
    case "Property":
    case "MethodDefinition":
    case "PropertyDefinition": {
      if (parent.value !== node) return "";
      const key = keyName(parent.key as AnyNode);
      const kind = parent.kind;
      return kind === "get" || kind === "set" ? `${kind} ${key}` : key;
    }
    case "AssignmentExpression":
      return parent.right === node ? memberPath(parent.left as AnyNode) : "";
    case "AssignmentPattern":
      return parent.right === node ? identifierName(parent.left as AnyNode) : "";
    default:
      return "";
  }
}

function identifierName(node: AnyNode): string {
  return node.type === "Identifier" ? (node.name as string) : "";
}

function keyName(node: AnyNode): string {
  if (node.type === "Identifier") return node.name as string;
  if (node.type === "Literal") return String(node.value);
  if (node.type === "PrivateIdentifier") return `#${node.name as string}`;
  return "";
}

/** `exports.handler`, `Foo.bar` for `Foo.prototype.bar`: the dotted path V8 infers as a name. */
function memberPath(node: AnyNode): string {
  if (node.type === "Identifier") return node.name as string;
  if (node.type === "ThisExpression") return "this";
  if (node.type === "MemberExpression" && !node.computed) {
    const object = memberPath(node.object as AnyNode);
    const property = keyName(node.property as AnyNode);
    if (property === "prototype") return object;
    return object && property ? `${object}.${property}` : property;
  }
  return "";
}

function calleeName(callee: AnyNode): string {
  if (callee.type === "Identifier") return callee.name as string;
  if (callee.type === "MemberExpression" && !callee.computed) return keyName(callee.property as AnyNode);
  if (callee.type === "ChainExpression") return calleeName(callee.expression as AnyNode);
  return "";
}
