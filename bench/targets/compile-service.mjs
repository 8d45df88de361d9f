// A bench target of real size: an HTTP service that transpiles TypeScript with the
// TypeScript compiler on every request. Bundled by bench/attribution.mjs with esbuild
// (names minified, line breaks kept, a source map): one 9 MB script of some 10,000
// functions, most of them small enough for TurboFan to inline.
import { createServer } from "node:http";
import ts from "typescript";

const SOURCE = `
interface Item { sku: string; quantity: number; unitCents: number }
export function total(items: readonly Item[]): number {
  return items.reduce((sum, item) => sum + item.quantity * item.unitCents, 0);
}
export class Cart {
  private readonly items: Item[] = [];
  add(item: Item): this { this.items.push(item); return this; }
  get total(): number { return total(this.items); }
}
`;

const server = createServer((_req, res) => {
  const output = ts.transpileModule(SOURCE, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2020 } });
  res.end(String(output.outputText.length));
});
server.listen(0, "127.0.0.1", () => console.log(`listening ${server.address().port}`));
