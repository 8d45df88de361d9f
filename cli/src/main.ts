import { reportFailure } from "./cli-error.js";
import { seismo } from "./seismo.js";

// The process around `seismo`: its output on stdout, failures on stderr, the exit code.
// `seismo snapshots | head`: a reader that stops early is not an error.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(0);
  throw error;
});

seismo(process.argv.slice(2), {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
}).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.exitCode = reportFailure(error);
  },
);
