/** The daemon's and analyzer's only way to speak: one line per message, to stderr by default. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export function createLogger(prefix = "seismo", write: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): Logger {
  return {
    info: (message) => write(`[${prefix}] ${message}`),
    warn: (message) => write(`[${prefix}] warning: ${message}`),
    error: (message) => write(`[${prefix}] error: ${message}`),
  };
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
