import { readdirSync } from "node:fs";
import { decodeProcAddress, procNetTcpTables } from "./listening-sockets.js";
import { redactArgv } from "./identity.js";
import { readCmdline, socketInodesOf } from "./proc.js";

const ESTABLISHED = "01";

interface TcpRow {
  localAddress: string;
  localPort: number;
  remoteAddress: string;
  remotePort: number;
  inode: string;
}

/** Established TCP connections in the text of /proc/net/tcp or tcp6. */
export function parseEstablished(text: string): TcpRow[] {
  const rows: TcpRow[] = [];
  for (const line of text.split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 10 || fields[3] !== ESTABLISHED) continue;
    const [localHex, localPortHex] = (fields[1] as string).split(":");
    const [remoteHex, remotePortHex] = (fields[2] as string).split(":");
    if (!localHex || !localPortHex || !remoteHex || !remotePortHex) continue;
    rows.push({
      localAddress: decodeProcAddress(localHex),
      localPort: Number.parseInt(localPortHex, 16),
      remoteAddress: decodeProcAddress(remoteHex),
      remotePort: Number.parseInt(remotePortHex, 16),
      inode: fields[9] as string,
    });
  }
  return rows;
}

function establishedIn(pid: number): TcpRow[] {
  return procNetTcpTables(pid).flatMap(parseEstablished);
}

/** A client connected to a target's inspector port: which process, when /proc tells. */
export interface InspectorClient {
  remote: string;
  /** The process holding the client end; undefined when no visible process does (another namespace or user). */
  pid?: number;
  command?: string;
}

/**
 * The clients connected to `port` of process `pid` (its inspector), apart from this process's
 * own connections: the debuggers that are not Seismo's. Read from /proc; found only where this
 * process can see the client's fds (same user or root, same PID namespace).
 */
export function otherInspectorClients(pid: number, port: number): InspectorClient[] {
  let targetInodes: Set<string>;
  try {
    targetInodes = socketInodesOf(pid);
  } catch {
    return [];
  }
  const rows = establishedIn(pid);
  const served = rows.filter((row) => row.localPort === port && targetInodes.has(row.inode));
  if (served.length === 0) return [];
  const mine = safeInodes(process.pid);
  const clients: InspectorClient[] = [];
  let owners: Map<string, number> | undefined;
  for (const row of served) {
    const clientEnd = rows.find((r) => r.localPort === row.remotePort && r.remotePort === port && r.localAddress === row.remoteAddress);
    if (clientEnd && mine.has(clientEnd.inode)) continue;
    owners ??= socketOwners();
    const owner = clientEnd ? owners.get(clientEnd.inode) : undefined;
    const client: InspectorClient = { remote: `${row.remoteAddress}:${row.remotePort}` };
    if (owner !== undefined) {
      client.pid = owner;
      client.command = safeCommand(owner);
    }
    clients.push(client);
  }
  return clients;
}

function safeInodes(pid: number): Set<string> {
  try {
    return socketInodesOf(pid);
  } catch {
    return new Set();
  }
}

function safeCommand(pid: number): string | undefined {
  try {
    return redactArgv(readCmdline(pid)).join(" ").slice(0, 120) || undefined;
  } catch {
    return undefined;
  }
}

/** Socket inode → pid, over every process this one may look into. */
function socketOwners(): Map<string, number> {
  const owners = new Map<string, number>();
  let pids: string[];
  try {
    pids = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return owners;
  }
  for (const name of pids) {
    for (const inode of safeInodes(Number(name))) if (!owners.has(inode)) owners.set(inode, Number(name));
  }
  return owners;
}

/** "pid 4242 (node debug.js)", or the client's address when its process is out of sight. */
export function describeClient(client: InspectorClient): string {
  return client.pid === undefined ? `a client at ${client.remote} (its process is not visible to Seismo)` : `pid ${client.pid} (${client.command ?? "?"})`;
}
