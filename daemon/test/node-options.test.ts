import { describe, expect, it } from "vitest";
import { inspectorBlocker, inspectorSettings, nodeOptionsOfArgv, splitNodeOptions } from "../src/inspector/node-options.js";

const blockerOf = (...words: string[]) => inspectorBlocker(inspectorSettings(words));

describe("reading Node options", () => {
  it("takes the options before the script, not the app's own arguments", () => {
    expect(nodeOptionsOfArgv(["node", "--disable-sigusr1", "-r", "dotenv/config", "app.js", "--permission"])).toEqual([
      "--disable-sigusr1",
      "-r",
      "dotenv/config",
    ]);
    expect(nodeOptionsOfArgv(["node", "-e", "x", "--inspect=0.0.0.0"])).toEqual(["-e"]);
  });

  it("splits NODE_OPTIONS with quotes", () => {
    expect(splitNodeOptions(' --require "./a b.js"  --inspect-port=0 ')).toEqual(["--require", "./a b.js", "--inspect-port=0"]);
    expect(splitNodeOptions("")).toEqual([]);
  });
});

describe("inspectorBlocker", () => {
  it("allows a plain process, a port, and loopback hosts", () => {
    expect(blockerOf()).toBeUndefined();
    expect(blockerOf("--inspect-port=0")).toBeUndefined();
    expect(blockerOf("--inspect-port=127.0.0.1:0")).toBeUndefined();
    expect(blockerOf("--inspect=[::1]:9230")).toBeUndefined();
    expect(blockerOf("--inspect-port", "localhost:9300")).toBeUndefined();
    expect(blockerOf("--permission", "--allow-inspector")).toBeUndefined();
    expect(blockerOf("--inspect-publish-uid=stderr,http")).toBeUndefined();
  });

  it("names each thing that blocks or exposes the inspector", () => {
    expect(blockerOf("--disable-sigusr1")).toMatchObject({ kind: "disabled", reason: expect.stringContaining("--disable-sigusr1") });
    expect(blockerOf("--experimental-permission")).toMatchObject({ kind: "disabled", reason: expect.stringContaining("--permission") });
    expect(blockerOf("--inspect-publish-uid=stderr")).toMatchObject({ kind: "disabled" });
    expect(blockerOf("--inspect-port=0.0.0.0:9229")).toMatchObject({ kind: "not-loopback", reason: expect.stringContaining("0.0.0.0") });
    expect(blockerOf("--inspect=[::]:9229")).toMatchObject({ kind: "not-loopback" });
  });

  it("lets a later option win, as Node does", () => {
    expect(blockerOf("--inspect-port=0.0.0.0:1", "--inspect-port=127.0.0.1:0")).toBeUndefined();
  });
});
