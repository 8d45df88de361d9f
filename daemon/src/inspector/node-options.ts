/**
 * Reads the Node.js options a process was started with (its command line and
 * NODE_OPTIONS) to tell, before sending any signal, whether opening its
 * inspector is possible and safe. Pure: takes strings, returns data.
 */

/** Options that take their value as the next word when not written with "=". */
const OPTIONS_WITH_VALUE = new Set([
  "-r",
  "--require",
  "--import",
  "--loader",
  "--experimental-loader",
  "-C",
  "--conditions",
  "--title",
  "--inspect-port",
  "--debug-port",
  "--env-file",
  "--env-file-if-exists",
  "--input-type",
  "--stack-trace-limit",
  "--redirect-warnings",
  "--diagnostic-dir",
  "--report-dir",
  "--cpu-prof-dir",
  "--heap-prof-dir",
]);
const INLINE_SCRIPT = new Set(["-e", "--eval", "-p", "--print"]);

/** The Node options of a command line: the words between the executable and the script. */
export function nodeOptionsOfArgv(argv: string[]): string[] {
  const options: string[] = [];
  for (let i = 1; i < argv.length; i++) {
    const word = argv[i] as string;
    if (word === "--" || !word.startsWith("-") || word === "-") break;
    options.push(word);
    if (INLINE_SCRIPT.has(word)) break;
    if (OPTIONS_WITH_VALUE.has(word) && i + 1 < argv.length) options.push(argv[++i] as string);
  }
  return options;
}

/**
 * The env files a command line loads (--env-file, --env-file-if-exists), in order. Node reads
 * NODE_OPTIONS from them too, where /proc/<pid>/environ cannot show it.
 */
export function envFilesOf(options: string[]): string[] {
  const files: string[] = [];
  for (let i = 0; i < options.length; i++) {
    const word = options[i] as string;
    const eq = word.indexOf("=");
    const name = eq > 0 ? word.slice(0, eq) : word;
    if (name !== "--env-file" && name !== "--env-file-if-exists") continue;
    const value = eq > 0 ? word.slice(eq + 1) : options[++i];
    if (value) files.push(value);
  }
  return files;
}

/** NODE_OPTIONS words, honouring double quotes as Node does. */
export function splitNodeOptions(value: string): string[] {
  const words: string[] = [];
  let current = "";
  let quoted = false;
  let inWord = false;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i] as string;
    if (ch === "\\" && quoted && i + 1 < value.length) {
      current += value[++i];
    } else if (ch === '"') {
      quoted = !quoted;
      inWord = true;
    } else if (/\s/.test(ch) && !quoted) {
      if (inWord) words.push(current);
      current = "";
      inWord = false;
    } else {
      current += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(current);
  return words;
}

export interface InspectorSettings {
  disableSigusr1: boolean;
  permissionModel: boolean;
  allowInspector: boolean;
  /** undefined: Node's default (127.0.0.1). */
  host: string | undefined;
  port: number | undefined;
  /** --inspect-publish-uid value, undefined when not given (default "stderr,http"). */
  publishUid: string | undefined;
}

function splitHostPort(value: string): { host?: string; port?: number } {
  // Forms: "9230", "0.0.0.0:9230", "[::]:9230", "host" (only a host is unusual but legal).
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(value);
  if (bracket) return { host: bracket[1], ...(bracket[2] ? { port: Number(bracket[2]) } : {}) };
  if (/^\d+$/.test(value)) return { port: Number(value) };
  const colon = value.lastIndexOf(":");
  if (colon > 0 && /^\d+$/.test(value.slice(colon + 1))) return { host: value.slice(0, colon), port: Number(value.slice(colon + 1)) };
  return { host: value };
}

/** Later words win, as with Node; NODE_OPTIONS come before the command line. */
export function inspectorSettings(words: string[]): InspectorSettings {
  const settings: InspectorSettings = {
    disableSigusr1: false,
    permissionModel: false,
    allowInspector: false,
    host: undefined,
    port: undefined,
    publishUid: undefined,
  };
  for (let i = 0; i < words.length; i++) {
    const word = words[i] as string;
    const eq = word.indexOf("=");
    const name = eq > 0 ? word.slice(0, eq) : word;
    const inlineValue = eq > 0 ? word.slice(eq + 1) : undefined;
    const value = (): string | undefined => inlineValue ?? (OPTIONS_WITH_VALUE.has(name) ? words[++i] : undefined);
    switch (name) {
      case "--disable-sigusr1":
        settings.disableSigusr1 = true;
        break;
      case "--permission":
      case "--experimental-permission":
        settings.permissionModel = true;
        break;
      case "--allow-inspector":
        settings.allowInspector = true;
        break;
      case "--inspect-publish-uid":
        settings.publishUid = inlineValue;
        break;
      case "--inspect":
      case "--inspect-brk":
      case "--inspect-wait":
      case "--inspect-port":
      case "--debug-port": {
        const v = value();
        if (v !== undefined) Object.assign(settings, splitHostPort(v));
        break;
      }
    }
  }
  return settings;
}

export type InspectorBlocker = { kind: "disabled"; reason: string; fix: string } | { kind: "not-loopback"; reason: string; fix: string };

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|::1)$/i;

/** Why SIGUSR1 would not give Seismo a usable, loopback-only inspector; undefined when it would. */
export function inspectorBlocker(settings: InspectorSettings): InspectorBlocker | undefined {
  if (settings.disableSigusr1) {
    return {
      kind: "disabled",
      reason: "it was started with --disable-sigusr1, so its inspector cannot be opened from outside",
      fix: "Restart it without --disable-sigusr1 (check the command line and NODE_OPTIONS).",
    };
  }
  if (settings.permissionModel && !settings.allowInspector) {
    return {
      kind: "disabled",
      reason: "it runs under the permission model (--permission) without --allow-inspector",
      fix: "Add --allow-inspector to its Node options, or run it without --permission.",
    };
  }
  if (settings.publishUid !== undefined && !settings.publishUid.split(",").includes("http")) {
    return {
      kind: "disabled",
      reason: `its inspector hides its address (--inspect-publish-uid=${settings.publishUid})`,
      fix: "Add http to --inspect-publish-uid (e.g. --inspect-publish-uid=stderr,http).",
    };
  }
  if (settings.host !== undefined && !LOOPBACK.test(settings.host)) {
    return {
      kind: "not-loopback",
      reason: `its inspector would listen on ${settings.host}, reachable from the network`,
      fix: "Use --inspect-port=127.0.0.1:<port> (or only a port): Seismo never opens an inspector beyond loopback.",
    };
  }
  return undefined;
}
