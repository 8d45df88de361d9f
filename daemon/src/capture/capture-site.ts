import type { Node } from "acorn";
import { parse } from "acorn";
import { full } from "acorn-walk";
import { ANONYMOUS } from "@seismo/agent-proto";
import { shownName } from "../attribution/anonymous-names.js";
import { buildFunctionTable } from "../attribution/function-table.js";

/**
 * Where a capture happens, and which names it reads there, from the source
 * of the file as the target loaded it, pure.
 *
 * A breakpoint condition runs in the paused frame's scope, so it can read
 * any variable by name, but it cannot list them: the daemon works the names
 * out from the source. Visible at a line are the enclosing function's
 * parameters, its `var` and function declarations, the `let`, `const` and
 * `class` declarations of the blocks around the line, a `catch` parameter,
 * and, as closure values, the names the function uses that an enclosing
 * function or the module declares. Globals (`process`, `JSON`) are left out.
 * A local not yet assigned at the line reads as undefined (V8's debugger
 * reads a `let` or `const` before its declaration so); a name not in scope
 * there at all reads as "unavailable".
 */
export interface CaptureSite {
  /** 1-based line and 0-based column of the breakpoint. */
  line: number;
  column: number;
  functionName: string;
  /** The function's own names first, then closure values. */
  names: string[];
}

export const MAX_NAMES = 40;

type AnyNode = Node & Record<string, unknown>;

interface Loc {
  start: { line: number; column: number };
  end: { line: number; column: number };
}

const FUNCTION_TYPES = new Set(["FunctionDeclaration", "FunctionExpression", "ArrowFunctionExpression"]);

function loc(node: AnyNode): Loc {
  return node.loc as unknown as Loc;
}

function contains(node: AnyNode, line: number): boolean {
  const l = loc(node);
  return l.start.line <= line && line <= l.end.line;
}

export function parseSource(source: string): AnyNode | undefined {
  for (const sourceType of ["script", "module"] as const) {
    try {
      return parse(source, { ecmaVersion: "latest", sourceType, locations: true, allowHashBang: true, allowReturnOutsideFunction: true, allowAwaitOutsideFunction: sourceType === "module" }) as unknown as AnyNode;
    } catch {
      // an ES module does not parse as a script: try the other
    }
  }
  return undefined;
}

/** Identifiers bound by a pattern: `a`, `{ a, b: [c] }`, `...rest`, `x = 1`. */
function patternNames(pattern: AnyNode | null | undefined, into: string[]): void {
  if (!pattern) return;
  switch (pattern.type) {
    case "Identifier":
      into.push(pattern.name as string);
      break;
    case "ObjectPattern":
      for (const p of pattern.properties as AnyNode[]) patternNames(p.type === "RestElement" ? p : (p.value as AnyNode), into);
      break;
    case "ArrayPattern":
      for (const e of pattern.elements as Array<AnyNode | null>) patternNames(e, into);
      break;
    case "RestElement":
      patternNames(pattern.argument as AnyNode, into);
      break;
    case "AssignmentPattern":
      patternNames(pattern.left as AnyNode, into);
      break;
  }
}

/** Names a scope (a function body or the program) declares, at `line`; `line` undefined takes every block. */
function declaredIn(scope: AnyNode, line: number | undefined): string[] {
  const names: string[] = [];
  const visit = (node: AnyNode | null | undefined, blockVisible: boolean): void => {
    if (!node || typeof node.type !== "string") return;
    if (FUNCTION_TYPES.has(node.type) && node !== scope) {
      if (node.type === "FunctionDeclaration" && node.id) names.push((node.id as AnyNode).name as string);
      return; // its insides are another scope
    }
    if (node.type === "VariableDeclaration") {
      const visible = node.kind === "var" || blockVisible;
      if (visible) for (const d of node.declarations as AnyNode[]) patternNames(d.id as AnyNode, names);
    } else if (node.type === "ClassDeclaration" && blockVisible && node.id) {
      names.push((node.id as AnyNode).name as string);
    } else if (node.type === "ImportDeclaration") {
      for (const specifier of node.specifiers as AnyNode[]) names.push((specifier.local as AnyNode).name as string);
    } else if (node.type === "CatchClause" && (line === undefined || contains(node, line))) {
      patternNames(node.param as AnyNode, names);
    }
    const isBlock = node !== scope && (node.type === "BlockStatement" || node.type === "ForStatement" || node.type === "ForInStatement" || node.type === "ForOfStatement" || node.type === "SwitchStatement" || node.type === "CatchClause");
    const inner = isBlock ? blockVisible && (line === undefined || contains(node, line)) : blockVisible;
    for (const [key, value] of Object.entries(node)) {
      if (key === "loc" || key === "type") continue;
      if (Array.isArray(value)) for (const v of value) visit(v as AnyNode, inner);
      else if (value && typeof value === "object" && typeof (value as AnyNode).type === "string") visit(value as AnyNode, inner);
    }
  };
  visit(scope, true);
  return names;
}

function functionName(fn: AnyNode, parent: AnyNode | undefined): string {
  if (fn.id) return (fn.id as AnyNode).name as string;
  if (parent?.type === "VariableDeclarator" && (parent.id as AnyNode).type === "Identifier") return (parent.id as AnyNode).name as string;
  if ((parent?.type === "Property" || parent?.type === "MethodDefinition") && (parent.key as AnyNode).type === "Identifier") return (parent.key as AnyNode).name as string;
  return "(anonymous)";
}

interface FunctionEntry {
  fn: AnyNode;
  name: string;
  /** Enclosing functions, outermost first. */
  outer: AnyNode[];
}

function functions(program: AnyNode): FunctionEntry[] {
  const found: FunctionEntry[] = [];
  const visit = (node: AnyNode, parent: AnyNode | undefined, outer: AnyNode[]): void => {
    const isFn = FUNCTION_TYPES.has(node.type);
    if (isFn) found.push({ fn: node, name: functionName(node, parent), outer });
    const nextOuter = isFn ? [...outer, node] : outer;
    for (const [key, value] of Object.entries(node)) {
      if (key === "loc") continue;
      if (Array.isArray(value)) for (const v of value) if (v && typeof (v as AnyNode).type === "string") visit(v as AnyNode, node, nextOuter);
      if (value && typeof value === "object" && !Array.isArray(value) && typeof (value as AnyNode).type === "string") visit(value as AnyNode, node, nextOuter);
    }
  };
  visit(program, undefined, []);
  return found;
}

/** Identifiers a function's body reads (including inside nested functions). */
function referenced(fn: AnyNode): Set<string> {
  const names = new Set<string>();
  full(fn, (node) => {
    if (node.type === "Identifier") names.add((node as unknown as AnyNode).name as string);
  });
  return names;
}

function siteIn(program: AnyNode, entry: FunctionEntry, line: number, column: number): CaptureSite {
  const own: string[] = [];
  for (const p of entry.fn.params as AnyNode[]) patternNames(p, own);
  own.push(...declaredIn(entry.fn, line));
  const used = referenced(entry.fn);
  const closure: string[] = [];
  for (const scope of [program, ...entry.outer].reverse()) {
    const declared = [...declaredIn(scope, undefined)];
    if (scope !== program) for (const p of scope.params as AnyNode[]) patternNames(p, declared);
    for (const name of declared) if (used.has(name)) closure.push(name);
  }
  const names = [...new Set([...own, ...closure])].filter((n) => n !== entry.name || own.includes(n)).slice(0, MAX_NAMES);
  return { line, column, functionName: entry.name, names };
}

/** The site for a breakpoint at `line` (1-based): the innermost function around it. */
export function siteAtLine(source: string, line: number): CaptureSite | undefined {
  const program = parseSource(source);
  if (!program) return undefined;
  const around = functions(program).filter((f) => contains(f.fn, line));
  const innermost = around.at(-1);
  const text = source.split("\n")[line - 1] ?? "";
  const column = text.length - text.trimStart().length;
  if (!innermost) return { line, column, functionName: "(top level)", names: declaredIn(program, line).slice(0, MAX_NAMES) };
  return siteIn(program, innermost, line, column);
}

/**
 * The site of a function's first statement, named as `seismo top` names it: V8's name
 * (`exports.handler`, `Cart.total`), or an anonymous function by where it sits
 * (`(anonymous) router.get('/reports', …)`), with the line it is declared on telling apart
 * functions that share a name. An anonymous function is never guessed: without a line that
 * finds it, only a name that one function has will do.
 */
export function siteOfNamedFunction(source: string, name: string, functionLine?: number): CaptureSite | undefined {
  const table = buildFunctionTable(source);
  const matches = table?.functions.filter((fn) => shownName(fn) === name || (name === ANONYMOUS && fn.name === "")) ?? [];
  const atLine = functionLine === undefined ? undefined : (matches.find((fn) => fn.line + 1 === functionLine) ?? matches.find((fn) => fn.startLine === functionLine));
  const anonymous = name.startsWith(ANONYMOUS);
  const fn = atLine ?? (matches.length === 1 || !anonymous ? matches[0] : undefined);
  if (fn) {
    const site = siteOfFunctionAt(source, fn.start);
    return site && { ...site, functionName: shownName(fn) };
  }
  return anonymous ? undefined : siteOfFunction(source, name, functionLine);
}

/** The site of the first statement of the function that starts at `offset`. */
function siteOfFunctionAt(source: string, offset: number): CaptureSite | undefined {
  const program = parseSource(source);
  if (!program) return undefined;
  const entry = functions(program).find((f) => f.fn.start === offset);
  return entry ? firstStatementSite(program, entry) : undefined;
}

function firstStatementSite(program: AnyNode, entry: FunctionEntry): CaptureSite {
  const body = entry.fn.body as AnyNode;
  const first = body.type === "BlockStatement" ? ((body.body as AnyNode[])[0] ?? body) : body;
  const start = loc(first).start;
  return siteIn(program, entry, start.line, start.column);
}

/** The site of a function's first statement, by the name its declaration or variable gives it (and the line it is declared on, when several share the name). */
export function siteOfFunction(source: string, name: string, lineHint?: number): CaptureSite | undefined {
  const program = parseSource(source);
  if (!program) return undefined;
  const candidates = functions(program).filter((f) => f.name === name);
  const entry =
    lineHint === undefined ? candidates[0] : (candidates.find((f) => loc(f.fn).start.line === lineHint) ?? candidates.find((f) => contains(f.fn, lineHint)) ?? candidates[0]);
  if (!entry) return undefined;
  return firstStatementSite(program, entry);
}
