/**
 * What the MCP HTTP endpoint checks before anything else, pure: the token is strong enough to
 * stand between the network and production data, and a request comes from where it should
 * (a browser page that rebinds a DNS name to 127.0.0.1 sends its own Host and Origin).
 */

/**
 * Estimated bits in a token: its length times the bits of the alphabet it draws from (hex 4,
 * lower-case letters and digits ~5.2, base64 6). The characters' own entropy would underestimate
 * short random tokens (24 base64 characters with a few repeats read as ~100 bits, not 144).
 */
export function tokenBits(token: string): number {
  let alphabet = 0;
  if (/[0-9]/.test(token)) alphabet += 10;
  if (/[a-z]/.test(token)) alphabet += /^[0-9a-f]*$/.test(token) ? 6 : 26;
  if (/[A-Z]/.test(token)) alphabet += 26;
  if (/[^0-9a-zA-Z]/.test(token)) alphabet += 32;
  return token.length * Math.log2(Math.max(alphabet, 1));
}

/** At least this many estimated bits: `openssl rand -hex 16` gives 128. */
export const MIN_TOKEN_BITS = 96;

/** Why this token will not do, or undefined when it will. */
export function tokenProblem(token: string): string | undefined {
  if (token.length < 24) return `it has ${token.length} characters; give at least 24`;
  // Few distinct characters ("aaaa…", "abab…") is a typed token, not a random one, whatever its alphabet.
  const distinct = new Set(token).size;
  if (distinct < Math.min(8, token.length / 4)) return `it is too predictable (${distinct} distinct characters in ${token.length})`;
  const bits = tokenBits(token);
  if (bits < MIN_TOKEN_BITS) return `it is too predictable (about ${Math.round(bits)} bits of ${MIN_TOKEN_BITS} needed)`;
  return undefined;
}

const LOOPBACK_NAMES = ["127.0.0.1", "localhost", "[::1]"];

export function isLoopbackBind(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * The Host values a request may carry: the loopback names at this port for a loopback bind; for a
 * specific address, that address too; undefined (any) for a wildcard bind behind a proxy, whose
 * public name Seismo cannot know.
 */
export function allowedHosts(bindHost: string, port: number): readonly string[] | undefined {
  if (bindHost === "0.0.0.0" || bindHost === "::") return undefined;
  const own = bindHost.includes(":") ? `[${bindHost}]` : bindHost;
  return [...new Set([...(isLoopbackBind(bindHost) ? LOOPBACK_NAMES : []), own])].map((name) => `${name}:${port}`);
}

/**
 * Why a request is refused (403), or undefined: a Host that is not this server's, or an Origin
 * (sent by browsers) that is not the Host's own page.
 */
export function requestRefusal(headers: { host?: string | undefined; origin?: string | undefined }, hosts: readonly string[] | undefined): string | undefined {
  const host = headers.host?.toLowerCase();
  if (!host) return "the request has no Host header";
  if (hosts && !hosts.includes(host)) return `Host "${host}" is not this server (${hosts.join(", ")}): a page on another site may be trying to reach it through DNS rebinding`;
  const origin = headers.origin?.toLowerCase();
  if (origin !== undefined && origin !== `http://${host}` && origin !== `https://${host}`) return `Origin "${origin}" is not this server's: browsers' cross-site requests are refused`;
  return undefined;
}
