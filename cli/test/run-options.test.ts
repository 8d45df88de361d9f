import { describe, expect, it } from "vitest";
import { withInspectPort } from "../src/commands/run.js";

describe("withInspectPort", () => {
  it("adds a loopback free-port choice, keeping the user's options", () => {
    expect(withInspectPort(undefined)).toBe("--inspect-port=127.0.0.1:0");
    expect(withInspectPort("--max-old-space-size=512")).toBe("--max-old-space-size=512 --inspect-port=127.0.0.1:0");
  });

  it("leaves a port the user chose alone", () => {
    expect(withInspectPort("--inspect-port=9300")).toBe("--inspect-port=9300");
    expect(withInspectPort("-r x --inspect=127.0.0.1:0")).toBe("-r x --inspect=127.0.0.1:0");
  });
});
