import { describe, expect, it } from "vitest";
import { parseSubject, serviceToken, subjectFor } from "../src/index.js";

describe("subjects", () => {
  it("builds seismo.v1.<service>.<kind>", () => {
    expect(subjectFor("shop", "profile")).toBe("seismo.v1.shop.profile");
    expect(parseSubject("seismo.v1.shop.profile")).toEqual({ service: "shop", kind: "profile" });
  });

  it("keeps a service name to one token", () => {
    expect(serviceToken("shop.api v2*>")).toBe("shop_api_v2_");
    expect(serviceToken("  ")).toBe("unknown");
    expect(subjectFor("a.b", "hello")).toBe("seismo.v1.a_b.hello");
  });

  it("rejects anything else", () => {
    for (const bad of ["seismo.v2.shop.profile", "seismo.v1.shop", "seismo.v1.shop.profile.extra", "seismo.v1.shop.unknown", "other"]) {
      expect(() => parseSubject(bad)).toThrow(/not a Seismo v1 subject/);
    }
  });
});
