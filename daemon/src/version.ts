/** Reported in hello messages; kept in step with package.json by the release script. */
export const SEISMO_VERSION = "0.1.0";
