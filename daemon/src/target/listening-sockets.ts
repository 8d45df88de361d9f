import { readFileSync } from "node:fs";
import { socketInodesOf } from "./proc.js";

export interface ListeningSocket {
  /** Dotted IPv4 or compressed IPv6. */
  address: string;
  port: number;
  inode: string;
  loopback: boolean;
}

const LISTEN = "0A";

/** Decodes the hex address of /proc/net/tcp[6]: each 32-bit word is in host (little-endian) order. */
export function decodeProcAddress(hex: string): string {
  const words = hex.match(/.{8}/g) ?? [];
  const bytes: number[] = [];
  for (const word of words) {
    const b = word.match(/../g) ?? [];
    for (let i = b.length - 1; i >= 0; i--) bytes.push(Number.parseInt(b[i] as string, 16));
  }
  if (bytes.length === 4) return bytes.join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] as number) << 8) | (bytes[i + 1] as number)).toString(16));
  // ::ffff:a.b.c.d (IPv4-mapped) reads best as IPv4.
  if (groups.slice(0, 5).every((g) => g === "0") && groups[5] === "ffff") return bytes.slice(12).join(".");
  return compressIpv6(groups);
}

function compressIpv6(groups: string[]): string {
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === "0") j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  if (bestLength < 2) return groups.join(":");
  return `${groups.slice(0, bestStart).join(":")}::${groups.slice(bestStart + bestLength).join(":")}`;
}

export function isLoopbackAddress(address: string): boolean {
  return address.startsWith("127.") || address === "::1" || address === "localhost";
}

/** Listening TCP sockets in the text of /proc/net/tcp or tcp6. */
export function parseProcNetTcp(text: string): ListeningSocket[] {
  const sockets: ListeningSocket[] = [];
  for (const line of text.split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 10 || fields[3] !== LISTEN) continue;
    const [addressHex, portHex] = (fields[1] as string).split(":");
    if (!addressHex || !portHex) continue;
    const address = decodeProcAddress(addressHex);
    sockets.push({ address, port: Number.parseInt(portHex, 16), inode: fields[9] as string, loopback: isLoopbackAddress(address) });
  }
  return sockets;
}

/** The text of /proc/<pid>/net/tcp and tcp6: the TCP sockets of the network namespace `pid` is in. */
export function procNetTcpTables(pid: number): string[] {
  const tables: string[] = [];
  for (const table of ["tcp", "tcp6"]) {
    try {
      tables.push(readFileSync(`/proc/${pid}/net/${table}`, "utf8"));
    } catch {
      // no IPv6 in this kernel or namespace
    }
  }
  return tables;
}

/** Every TCP socket listening in the network namespace `pid` is in (its pod's, in Kubernetes), whoever owns it. */
export function listeningSocketsIn(pid: number): ListeningSocket[] {
  return procNetTcpTables(pid).flatMap(parseProcNetTcp);
}

/**
 * The TCP sockets this process itself listens on: its socket inodes matched
 * against its network namespace's tables. Several processes can share a
 * namespace (a pod), so the namespace table alone would not say whose port is whose.
 */
export function listeningSocketsOf(pid: number): ListeningSocket[] {
  const inodes = socketInodesOf(pid);
  return listeningSocketsIn(pid).filter((socket) => inodes.has(socket.inode));
}

/**
 * The ports the kernel hands out for a bind to port 0 (net.ipv4.ip_local_port_range); undefined
 * when it cannot be read. Read here, in Seismo's namespace: a sidecar shares its pod's.
 */
export function ephemeralPortRange(): { low: number; high: number } | undefined {
  try {
    const [low, high] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/).map(Number);
    return low !== undefined && high !== undefined && Number.isInteger(low) && Number.isInteger(high) && low <= high ? { low, high } : undefined;
  } catch {
    return undefined;
  }
}
