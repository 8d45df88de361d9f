import { ErrorCodes, SeismoError } from "./errors.js";
import type { EventKind } from "./messages.js";
import { EventKinds, isEventKind } from "./messages.js";

/** Every Seismo v1 subject starts with this; the JetStream stream captures `seismo.v1.>`. */
export const SUBJECT_PREFIX = "seismo.v1";
export const ALL_SUBJECTS = `${SUBJECT_PREFIX}.>`;

/**
 * A service name as a single NATS token: dots, wildcards and whitespace would
 * split or widen the subject, so they become "_". Empty names become "unknown".
 */
export function serviceToken(service: string): string {
  // Control characters are exactly what must not reach a subject.
  // eslint-disable-next-line no-control-regex
  const token = service.trim().replace(/[.*>\s\u0000-\u001f]+/g, "_");
  return token.length > 0 ? token.slice(0, 128) : "unknown";
}

/** seismo.v1.<service>.<kind> */
export function subjectFor(service: string, kind: EventKind): string {
  return `${SUBJECT_PREFIX}.${serviceToken(service)}.${kind}`;
}

export interface ParsedSubject {
  service: string;
  kind: EventKind;
}

export function parseSubject(subject: string): ParsedSubject {
  const parts = subject.split(".");
  const [prefix, version, service, kind] = parts;
  if (parts.length !== 4 || `${prefix}.${version}` !== SUBJECT_PREFIX || !service || !kind || !isEventKind(kind)) {
    throw new SeismoError(
      ErrorCodes.SUBJECT_INVALID,
      `"${subject}" is not a Seismo v1 subject (expected ${SUBJECT_PREFIX}.<service>.<${EventKinds.join("|")}>).`,
    );
  }
  return { service, kind };
}
