import type { CapturedValue } from "@seismo/agent-proto";

/**
 * Pure: a captured value as plain JSON, for people and agents reading a request's parameters:
 * `{ id: "42", page: 2 }` rather than the tree of names, types and marks. What was cut says so in
 * its place ("… 3 more fields"), a value deeper than kept reads "[Object: not read, deeper than
 * 3 levels]", and a redacted one "[redacted]".
 */
export function plainValue(value: CapturedValue): unknown {
  if (value.truncated === "redacted") return value.value || "[redacted]";
  switch (value.type) {
    case "string":
      return value.truncated === "length" ? `${value.value}… (${value.omitted} more characters)` : value.value;
    case "number": {
      const n = Number(value.value);
      return Number.isFinite(n) ? n : value.value;
    }
    case "boolean":
      return value.value === "true";
    case "null":
    case "undefined":
      return null;
  }
  if (value.truncated === "depth") return `[${value.type}: not read, deeper than kept]`;
  if (value.truncated === "time" || value.truncated === "bytes") return `[not read: ${value.truncated === "time" ? "out of time" : "the size limit was reached"}]`;
  if (value.children.length === 0) {
    // Text the target gave for an object (a Date, an Error's message), or a value it does not open (a Promise).
    if (value.value !== "") return value.value;
    if (value.type === "Array") return [];
    return value.type === "Object" ? {} : `[${value.type}]`;
  }
  const arrayLike = value.type === "Array" || value.type === "Set" || value.children.every((c, i) => c.name === String(i));
  const more = value.omitted > 0 ? `… ${value.omitted} more ${value.truncated === "fields" ? "fields" : "items"}` : undefined;
  if (arrayLike && value.children.length > 0) {
    const items = value.children.map(plainValue);
    return more ? [...items, more] : items;
  }
  const object: Record<string, unknown> = {};
  for (const child of value.children) object[child.name] = plainValue(child);
  if (more) object["…"] = more;
  return object;
}
