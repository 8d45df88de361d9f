import { readFileSync } from "node:fs";

/**
 * Seismo's version, from this package's package.json (dist/version.js sits one
 * level below it, in the repository and in the image alike), so that there is
 * one place to change it.
 */
export const SEISMO_VERSION: string = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string })
  .version;
