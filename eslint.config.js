// Lint: ESLint's and typescript-eslint's recommended rules, type-aware where it
// matters here (floating promises: a sensor must never lose an error silently).
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  // The TypeScript fixture is compiled by its own tsconfig in the tests (strict), not by the project's.
  { ignores: ["**/dist/**", "**/node_modules/**", ".cache/**", "coverage/**", "test/fixtures/**/*.ts"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    languageOptions: {
      parserOptions: {
        project: ["./agent-proto/tsconfig.json", "./daemon/tsconfig.json", "./analyzer/tsconfig.json", "./cli/tsconfig.json", "./tsconfig.test.json"],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
    },
  },
  {
    files: ["**/*.cjs", "**/*.mjs", "**/*.js"],
    rules: { "@typescript-eslint/no-require-imports": "off" },
    languageOptions: { globals: { process: "readonly", console: "readonly", require: "readonly", module: "writable", setTimeout: "readonly", clearTimeout: "readonly", setInterval: "readonly", clearInterval: "readonly", setImmediate: "readonly", URL: "readonly", Buffer: "readonly", performance: "readonly", fetch: "readonly" } },
  },
);
