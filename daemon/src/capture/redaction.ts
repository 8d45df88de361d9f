/**
 * What must never leave the daemon in a captured value, pure.
 *
 * By name: a field, variable or header whose name, lower-cased and stripped
 * of `_`, `-`, `$`, `@` and `.`, is in REDACTED_NAMES (a superset of the 88
 * identifiers Datadog ships), contains one of SECRET_NAME_PARTS, or has one of
 * SECRET_NAME_WORDS as a word of its own ("smtp.pass", "userSSN"; not
 * "passenger" or "className"). The capture function in the target applies it
 * first, so those values never even leave the target's memory; a string that
 * follows a secret name in an array (Node's req.rawHeaders) goes with it.
 *
 * By value: strings that look like credentials whatever they are called:
 * JWTs, bearer and basic credentials, card numbers (Luhn-checked), cloud
 * and SaaS keys, private keys, credentials in URLs and connection strings,
 * long random tokens, `"password": "…"` and `DB_PASSWORD=…` forms, US social
 * security numbers and IBANs (checked). The daemon applies it to every string
 * and every name (a token used as a Map key) before publishing, over more of a
 * long string than is kept (CAPTURE_REDACTION_MARGIN), so that a secret cut by
 * the length limit is still seen whole; the matched part becomes "[redacted]"
 * and the rest stays, so "Bearer eyJ…" in a log line still reads as a log line.
 */
export const REDACTED = "[redacted]";

export const REDACTED_NAMES: readonly string[] = [
  // Datadog's defaults
  "2fa", "accesstoken", "aiohttpsession", "apikey", "apisecret", "apisignature", "appkey", "applicationkey", "auth",
  "authorization", "authtoken", "ccnumber", "certificatepin", "cipher", "clientid", "clientsecret", "connectionstring",
  "connectsid", "cookie", "credentials", "creditcard", "csrf", "csrftoken", "cvv", "databaseurl", "dburl",
  "encryptionkey", "encryptionkeyid", "geolocation", "gpgkey", "ipaddress", "jti", "jwt", "licensekey", "masterkey",
  "mysqlpwd", "nonce", "oauth", "oauthtoken", "otp", "passhash", "passwd", "password", "passwordb", "pemfile",
  "pgpkey", "phpsessid", "pin", "pincode", "pkcs8", "privatekey", "publickey", "pwd", "recaptchakey", "refreshtoken",
  "routingnumber", "salt", "secret", "secretkey", "secrettoken", "securityanswer", "securitycode", "securityquestion",
  "serviceaccountcredentials", "session", "sessionid", "sessionkey", "setcookie", "signature", "signaturekey",
  "sshkey", "ssn", "symfony", "token", "transactionid", "twiliotoken", "usersession", "voterid", "xapikey",
  "xauthtoken", "xcsrftoken", "xforwardedfor", "xrealip", "xsrf", "xsrftoken",
  // and more that Node services carry
  "accesskey", "accesskeyid", "secretaccesskey", "awssecretaccesskey", "awssessiontoken", "bearer", "bearertoken",
  "idtoken", "sessiontoken", "sessioncookie", "sid", "xsessionid", "proxyauthorization", "apitoken", "authkey",
  "clientkey", "signingkey", "signingsecret", "webhooksecret", "hmac", "hmackey", "mfa", "mfacode", "totp",
  "cardnumber", "cardcvc", "cvc", "cvv2", "iban", "accountnumber", "dsn", "sentrydsn", "smtppassword", "npmtoken",
  "githubtoken", "gitlabtoken", "slacktoken", "stripekey", "stripesecret", "privatekeyid", "passphrase", "keypass",
  "credential", "creds", "jwtsecret", "sessionsecret", "cookiesecret", "encryptionsecret", "oauthsecret", "xapitoken",
  "xamzsecuritytoken", "xgoogapikey", "apikeys", "authheader", "authcode", "verificationcode", "resettoken",
];

/** Name fragments that mark a secret wherever they stand: "dbPassword", "STRIPE_SECRET", "x-upstream-token". */
export const SECRET_NAME_PARTS: readonly string[] = ["password", "passwd", "secret", "token", "apikey", "credential", "privatekey", "authorization", "cookie", "sessionid"];

/**
 * Short names that mark a secret only as a word of their own: "smtp.pass", "SMTP_PASS",
 * "userPin", "ibanNumber", but not "passenger", "compass", "className" or "spinner".
 */
export const SECRET_NAME_WORDS: readonly string[] = ["pass", "pwd", "pw", "ssn", "iban", "pin", "otp", "cvv", "cvc", "auth", "sin", "tin", "pan"];

/** The words of a name: "smtpPass" → smtp, pass; "DB_PASSWORD" → db, password; "x-api-key" → x, api, key. */
export function nameWords(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w !== "");
}

export function normalizeName(name: string): string {
  return name.toLowerCase().replace(/[-_$@.\s]/g, "");
}

export interface NameRedaction {
  names: ReadonlySet<string>;
  parts: readonly string[];
  words: ReadonlySet<string>;
}

/** The default rule, with extra names from configuration (`--redact name,...`). */
export function nameRedaction(extra: readonly string[] = []): NameRedaction {
  return { names: new Set([...REDACTED_NAMES, ...extra.map(normalizeName)]), parts: SECRET_NAME_PARTS, words: new Set(SECRET_NAME_WORDS) };
}

export function isSecretName(name: string, rule: NameRedaction = DEFAULT_NAME_REDACTION): boolean {
  const n = normalizeName(name);
  return rule.names.has(n) || rule.parts.some((p) => n.includes(p)) || nameWords(name).some((w) => rule.words.has(w));
}

export const DEFAULT_NAME_REDACTION = nameRedaction();

/** Luhn checksum: true for a plausible card number (digits only). */
export function luhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

/** ISO 13616 check: the IBAN's four first characters moved to the end, letters as numbers, mod 97 is 1. */
export function ibanChecks(iban: string): boolean {
  const compact = iban.replace(/ /g, "").toUpperCase();
  if (compact.length < 15 || compact.length > 34) return false;
  let rest = 0;
  for (const ch of compact.slice(4) + compact.slice(0, 4)) {
    const code = ch.charCodeAt(0);
    const value = code >= 65 ? String(code - 55) : ch;
    for (const digit of value) rest = (rest * 10 + Number(digit)) % 97;
  }
  return rest === 1;
}

/** Key names whose value, in `key=value`, `key: value` or `"key": "value"` text, is a secret. */
const SECRET_KEY =
  String.raw`[A-Za-z0-9_.-]*(?:password|passwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential|session[_-]?id)[A-Za-z0-9_.-]*` +
  String.raw`|(?:[A-Za-z0-9_.-]*[_.-])?(?:pass|pwd|ssn|iban|auth|authorization|pin|otp|cvv|cvc)(?![A-Za-z0-9])`;

interface ValuePattern {
  name: string;
  pattern: RegExp;
  /** Replace only this group (1) and keep the rest of the match, e.g. the scheme of a URL. */
  keepPrefix?: boolean;
  check?: (match: string) => boolean;
}

const VALUE_PATTERNS: ValuePattern[] = [
  { name: "private key", pattern: /-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|$)/g },
  { name: "jwt", pattern: /\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g },
  { name: "authorization scheme", pattern: /\b(?:Bearer|Basic|Digest|Token|Bot)\s+[A-Za-z0-9._~+/=-]{8,}/gi },
  // The user part may hold any character, "@" included (postgres://app:p@ss@db): up to the last "@" before the host.
  { name: "url credentials", pattern: /\b([a-z][a-z0-9+.-]*:\/\/)[^/\s?#]*(?=@)/gi, keepPrefix: true },
  // password=…, DB_PASSWORD=…, smtp.pass: …, "password":"…" (JSON in a body string), 'apiKey': '…'.
  {
    name: "secret assignment",
    pattern: new RegExp(String.raw`((?<![A-Za-z0-9])["']?(?:${SECRET_KEY})["']?\s*[:=]\s*)("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^\s,;&}\]"']+)`, "gi"),
    keepPrefix: true,
    // A count of a language model's tokens ("max_tokens": 256) is not a secret.
    check: (match) => !/tokens["']?\s*[:=]\s*\d+$/i.test(match),
  },
  { name: "us social security number", pattern: /\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b/g },
  { name: "iban", pattern: /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b/g, check: ibanChecks },
  { name: "aws access key", pattern: /\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA)[0-9A-Z]{16}\b/g },
  { name: "github token", pattern: /\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,})\b/g },
  { name: "gitlab token", pattern: /\bglpat-[A-Za-z0-9_-]{20,}\b/g },
  { name: "slack token", pattern: /\bxox[abprse]-[A-Za-z0-9-]{10,}/g },
  { name: "slack webhook", pattern: /https:\/\/hooks\.slack\.com\/services\/[A-Za-z0-9/]+/g },
  { name: "stripe key", pattern: /\b(?:sk|rk|pk|whsec)_(?:live|test)?_?[A-Za-z0-9]{16,}\b/g },
  { name: "google api key", pattern: /\bAIza[0-9A-Za-z_-]{35}\b/g },
  { name: "npm token", pattern: /\bnpm_[A-Za-z0-9]{36}\b/g },
  { name: "sendgrid key", pattern: /\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}\b/g },
  { name: "twilio key", pattern: /\bSK[0-9a-fA-F]{32}\b/g },
  { name: "openai-style key", pattern: /\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}\b/g },
  {
    name: "card number",
    // Issuers' numbers start with 2 to 6; a 13-digit millisecond timestamp starts with 1.
    pattern: /\b[2-6](?:[ -]?\d){11,17}[ -]?\d\b/g,
    check: (match) => {
      const digits = match.replace(/[ -]/g, "");
      return digits.length >= 13 && digits.length <= 19 && luhn(digits);
    },
  },
  // Long unbroken runs of a token alphabet with letters and digits: API keys, hex secrets, base64 blobs.
  // UUIDs (ids, not secrets) have their dashes and stay.
  {
    name: "long token",
    pattern: /(?<![A-Za-z0-9+/_=-])[A-Za-z0-9+/_=-]{32,}(?![A-Za-z0-9+/_=-])/g,
    check: (match) => /\d/.test(match) && /[A-Za-z]/.test(match) && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(match),
  },
];

/**
 * How many characters past the length limit the target sends of a long string, for redaction
 * only: a secret that starts before the cut is seen whole (up to this much longer), then cut.
 */
export const CAPTURE_REDACTION_MARGIN = 1024;

/**
 * The first `keep` characters of a string already redacted, never ending inside a "[redacted]"
 * marker (the cut would leave "[reda" and read as text of the app).
 */
export function cutRedacted(redacted: string, keep: number): string {
  if (redacted.length <= keep) return redacted;
  const marker = redacted.lastIndexOf(REDACTED, keep - 1);
  if (marker >= 0 && marker + REDACTED.length > keep) return redacted.slice(0, marker + REDACTED.length);
  return redacted.slice(0, keep);
}

/** The string with every credential-looking part replaced by "[redacted]"; the same string when there is none. */
export function redactString(value: string): string {
  let out = value;
  for (const { pattern, keepPrefix, check } of VALUE_PATTERNS) {
    pattern.lastIndex = 0;
    out = out.replace(pattern, (match: string, prefix: unknown) => {
      if (check && !check(match)) return match;
      return keepPrefix && typeof prefix === "string" ? `${prefix}${REDACTED}` : REDACTED;
    });
  }
  return out;
}
