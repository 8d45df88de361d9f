import { inTargetValues } from "../in-target/values.js";
import type { InTargetCall } from "../in-target/script.js";
import { inTargetCall } from "../in-target/script.js";
import { CAPTURE_REDACTION_MARGIN, REDACTED, REDACTED_NAMES, SECRET_NAME_PARTS, SECRET_NAME_WORDS } from "./redaction.js";

/**
 * The serializer the capture code and the HTTP instrument share in the target (in-target/values.ts),
 * with redaction.ts's rules: a secret's name is redacted there, before its value is read; the
 * daemon checks every name and string again by shape before anything is published.
 */
export const VALUES: InTargetCall = inTargetCall(inTargetValues, {
  redactedNames: [...REDACTED_NAMES],
  secretNameParts: [...SECRET_NAME_PARTS],
  secretNameWords: [...SECRET_NAME_WORDS],
  redactionMargin: CAPTURE_REDACTION_MARGIN,
  redacted: REDACTED,
});
