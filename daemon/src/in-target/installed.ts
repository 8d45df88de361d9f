/**
 * In the target: reading and removing what Seismo installed under a key (see keys.ts). Each is
 * sent with the key as its settings.
 */

interface Installed {
  read(): unknown;
  remove(): void;
}

/** Its read (and reset), or null when nothing is installed under the key. */
export function readInstalled(key: string): unknown {
  const installed = (globalThis as unknown as Record<symbol, Installed | undefined>)[Symbol.for(key)];
  return installed ? installed.read() : null;
}

/** Removes it; true when something was installed. */
export function removeInstalled(key: string): boolean {
  const installed = (globalThis as unknown as Record<symbol, Installed | undefined>)[Symbol.for(key)];
  if (installed) installed.remove();
  return Boolean(installed);
}
