#!/usr/bin/env node
import("../dist/main.js").catch((error) => {
  if (error && error.code === "ERR_MODULE_NOT_FOUND" && String(error.message).includes("dist/main.js")) {
    process.stderr.write("seismo is not built yet: run `npm install` (or `npm run build`) in the Seismo checkout first.\n");
    process.exit(1);
  }
  throw error;
});
