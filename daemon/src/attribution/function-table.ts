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
  /**
   * For an anonymous function, where it sits, when that says something: the call it is passed to
   * (`router.get('/reports', …)`, `new Promise(…)`), or `export default`; "" otherwise.
   */
  context: string;
  /** Offset of the function's first character in the source. */
  start: number;
  /** 0-based line and column of the parameter list, where V8's call frames place a function. */
  line: number;
  column: number;
  /** 0-based line and column of the identifier the name comes from (where a source map names it), else of the function. */
  nameLine: number;
  nameColumn: number;
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
  /** Every function that covers the line, at any depth (a minified bundle's line: most of them). */
  functionsOnLine(line: number): readonly number[];
  /** True when the owner starts or ends on the line, so its parent has code there too. */
  sharedLine(line: number): boolean;
  /** The function V8 reports at this 0-based position (its parameter list), if any. */
  functionAt(line: number, column: number): ScriptFunction | undefined;
  /** True when `inner` is `outer` or nested inside it. */
  within(inner: number, outer: number): boolean;
  /** Functions of that name in the script. */
  named(name: string): readonly ScriptFunction[];
  /**
   * True when the 1-based line holds no code of its own: blank, a comment, or only closing
   * brackets and separators (`});`). V8 rarely samples such a line (a function's implicit return
   * sits on its closing brace), so on a line shared with another script it is the other's code.
   */
  trivialLine(line: number): boolean;
}

type AnyNode = Node & Record<string, unknown>;

const FUNCTION_TYPES = new Set(["FunctionDeclaration", "FunctionExpression", "ArrowFunctionExpression"]);
/** Blank, a line comment, or closing brackets and separators only. */
const TRIVIAL_LINE = /^[\s})\];,]*(\/\/.*)?$/;

/** Parses a script (CommonJS, ES module, or a bundle); undefined when it is not JavaScript acorn can read. */
export function buildFunctionTable(source: string): FunctionTable | undefined {
  const ast = parseProgram(source);
  if (!ast) return undefined;
  const lineStarts = lineStartsOf(source);
  const lineOf = (offset: number): number => lineIndexOf(lineStarts, offset);
  const functions: ScriptFunction[] = [];
  const calls: Array<Set<string>> = [];
  const byHeader = new Map<number, number>();
  const constructors = new Map<AnyNode, { name: string; at: number }>();

  const visit = (node: AnyNode, parentNode: AnyNode | undefined, enclosing: number, depth: number): void => {
    let inside = enclosing;
    let innerDepth = depth;
    if (node.type === "ClassDeclaration" || node.type === "ClassExpression") noteConstructor(node, parentNode, constructors);
    if (FUNCTION_TYPES.has(node.type)) {
      const header = headerOffset(node, source);
      const headerLine = lineOf(header);
      const named = constructors.get(node) ?? nameOf(node, parentNode);
      const nameLine = lineOf(named.at);
      const index = functions.length;
      const own = new Set<string>();
      calls.push(own);
      functions.push({
        index,
        name: named.name,
        context: named.name ? "" : contextOf(node, parentNode),
        start: node.start,
        line: headerLine,
        column: header - (lineStarts[headerLine] as number),
        nameLine,
        nameColumn: named.at - (lineStarts[nameLine] as number),
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
  // Per line, the innermost function covering it, when the functions on it nest in one another;
  // AMBIGUOUS when two of them do not (siblings side by side). Functions come parents first.
  const isWithin = (inner: number, outer: number): boolean => {
    for (let at = inner; at >= 0; at = (functions[at] as ScriptFunction).parent) if (at === outer) return true;
    return false;
  };
  const owner = new Int32Array(lineCount + 1).fill(TOP_LEVEL);
  const extra = new Map<number, number[]>();
  for (const fn of functions) {
    for (let line = fn.startLine; line <= fn.endLine; line++) {
      const at = owner[line] as number;
      if (at === TOP_LEVEL || (at >= 0 && isWithin(fn.index, at))) {
        owner[line] = fn.index;
        continue;
      }
      if (at === AMBIGUOUS) {
        const list = extra.get(line) as number[];
        // Nested in one of the side-by-side functions: it takes that one's place.
        const parentAt = list.findIndex((other) => isWithin(fn.index, other));
        if (parentAt >= 0) list[parentAt] = fn.index;
        else list.push(fn.index);
        continue;
      }
      extra.set(line, [at, fn.index]);
      owner[line] = AMBIGUOUS;
    }
  }
  const byName = new Map<string, ScriptFunction[]>();
  for (const fn of functions) {
    if (!fn.name) continue;
    const list = byName.get(fn.name) ?? [];
    list.push(fn);
    byName.set(fn.name, list);
  }

  const trivial = new Uint8Array(lineCount + 2);
  for (let line = 1; line <= lineCount; line++) {
    const text = source.slice(lineStarts[line - 1] as number, (lineStarts[line] as number | undefined) ?? source.length);
    if (TRIVIAL_LINE.test(text)) trivial[line] = 1;
  }
  const onLine = new Map<number, number[]>();
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
    functionsOnLine: (line) => {
      let found = onLine.get(line);
      if (!found) {
        found = functions.filter((fn) => fn.startLine <= line && line <= fn.endLine).map((fn) => fn.index);
        if (onLine.size > 4_096) onLine.clear();
        onLine.set(line, found);
      }
      return found;
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
    trivialLine: (line) => line >= 1 && line <= lineCount && trivial[line] === 1,
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
 * 24 for declarations, expressions, arrows and methods), the lone parameter of
 * `x => ...`, or for an async arrow its `async` (Express 5's `async (req, res) =>`
 * handlers were found nowhere, so named nowhere, before this was measured).
 */
function headerOffset(node: AnyNode, source: string): number {
  if (node.type === "ArrowFunctionExpression" && node.async === true) return node.start as number;
  const params = node.params as AnyNode[];
  const first = params[0];
  const from = ((node.id as AnyNode | null | undefined)?.end ?? node.start) as number;
  const until = first ? first.start : (node.body as AnyNode).start;
  const paren = source.indexOf("(", from);
  if (paren >= 0 && paren < until) return paren;
  return first && node.type === "ArrowFunctionExpression" ? first.start : node.start;
}

/** A class's constructor is named by V8 after its class (`new Cart(…)` runs `Cart`), not "constructor". */
function noteConstructor(node: AnyNode, parent: AnyNode | undefined, constructors: Map<AnyNode, { name: string; at: number }>): void {
  const id = node.id as AnyNode | null | undefined;
  const name = id ? identifierName(id) : parent?.type === "VariableDeclarator" && parent.init === node ? identifierName(parent.id as AnyNode) : "";
  if (!name) return;
  for (const member of (node.body as AnyNode).body as AnyNode[]) {
    if (member.type === "MethodDefinition" && member.kind === "constructor") constructors.set(member.value as AnyNode, { name, at: (member.key as AnyNode).start as number });
  }
}

/** The name V8 infers, and where its identifier is: the declaration's, or that of the variable, property or member it is assigned to. */
function nameOf(node: AnyNode, parent: AnyNode | undefined): { name: string; at: number } {
  const id = node.id as AnyNode | null | undefined;
  if (id && typeof id.name === "string") return { name: id.name, at: id.start };
  const none = { name: "", at: node.start };
  if (!parent) return none;
  switch (parent.type) {
    case "VariableDeclarator": {
      const target = parent.id as AnyNode;
      return parent.init === node ? { name: identifierName(target), at: target.start } : none;
    }
    case "Property":
    case "MethodDefinition":
    case "PropertyDefinition": {
      if (parent.value !== node) return none;
      const keyNode = parent.key as AnyNode;
      const key = keyName(keyNode);
      const kind = parent.kind;
      return { name: kind === "get" || kind === "set" ? `${kind} ${key}` : key, at: keyNode.start };
    }
    case "AssignmentExpression": {
      const target = parent.left as AnyNode;
      return parent.right === node ? { name: memberPath(target), at: target.type === "MemberExpression" ? (target.property as AnyNode).start : target.start } : none;
    }
    case "AssignmentPattern": {
      const target = parent.left as AnyNode;
      return parent.right === node ? { name: identifierName(target), at: target.start } : none;
    }
    default:
      return none;
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

const MAX_CONTEXT = 60;

/**
 * Where an anonymous function sits, in the words of its source: the call it is an argument of,
 * with the string literal that call starts with (a route, an event name), `…` for the rest.
 */
function contextOf(node: AnyNode, parent: AnyNode | undefined): string {
  if (!parent) return "";
  if (parent.type === "ExportDefaultDeclaration") return "export default";
  if ((parent.type !== "CallExpression" && parent.type !== "NewExpression") || parent.callee === node) return "";
  const callee = calleeText(parent.callee as AnyNode);
  if (!callee) return "";
  const first = (parent.arguments as AnyNode[])[0];
  const label = first && first !== node ? stringLiteral(first) : undefined;
  const args = label === undefined ? "…" : `${quoted(label)}, …`;
  const text = `${parent.type === "NewExpression" ? "new " : ""}${callee}(${args})`;
  return text.length > MAX_CONTEXT ? `${text.slice(0, MAX_CONTEXT - 1)}…` : text;
}

/** `router.get`, `app.route('/x').post`, `fetchUser(…).then`: a callee as written, calls shortened. */
function calleeText(node: AnyNode): string {
  switch (node.type) {
    case "Identifier":
      return node.name as string;
    case "ThisExpression":
      return "this";
    case "MemberExpression": {
      const object = calleeText(node.object as AnyNode);
      if (!object) return "";
      if (!node.computed) return `${object}.${keyName(node.property as AnyNode)}`;
      const key = stringLiteral(node.property as AnyNode);
      return key === undefined ? `${object}[…]` : `${object}[${quoted(key)}]`;
    }
    case "CallExpression": {
      const inner = calleeText(node.callee as AnyNode);
      if (!inner) return "";
      const first = (node.arguments as AnyNode[])[0];
      const label = first ? stringLiteral(first) : undefined;
      const more = (node.arguments as AnyNode[]).length > 1 ? ", …" : "";
      return `${inner}(${label === undefined ? (first ? "…" : "") : `${quoted(label)}${more}`})`;
    }
    case "ChainExpression":
      return calleeText(node.expression as AnyNode);
    default:
      return "";
  }
}

/** A string as JavaScript source would quote it, in single quotes, at most 30 characters. */
function quoted(text: string): string {
  const short = text.length > 30 ? `${text.slice(0, 29)}…` : text;
  return `'${JSON.stringify(short).slice(1, -1).replace(/'/g, "\\'")}'`;
}

/** The value of a string literal or a template with no expressions; undefined for anything else. */
function stringLiteral(node: AnyNode): string | undefined {
  if (node.type === "Literal" && typeof node.value === "string") return node.value;
  if (node.type === "TemplateLiteral" && (node.expressions as AnyNode[]).length === 0) {
    const quasi = (node.quasis as AnyNode[])[0] as AnyNode | undefined;
    return (quasi?.value as { cooked?: string } | undefined)?.cooked ?? undefined;
  }
  return undefined;
}

function calleeName(callee: AnyNode): string {
  if (callee.type === "Identifier") return callee.name as string;
  if (callee.type === "MemberExpression" && !callee.computed) return keyName(callee.property as AnyNode);
  if (callee.type === "ChainExpression") return calleeName(callee.expression as AnyNode);
  return "";
}
