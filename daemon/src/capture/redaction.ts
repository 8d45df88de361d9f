/**
 * What must never leave the daemon in a captured value, pure.
 *
 * By name: a field, variable or header whose name, lower-cased and stripped
 * of `_`, `-`, `$`, `@` and `.`, is in REDACTED_NAMES (a superset of the 88
 * identifiers Datadog ships), or contains one of SECRET_NAME_PARTS. The
 * capture function in the target applies it first, so those values never
 * even leave the target's memory.
 *
 * By value: strings that look like credentials whatever they are called:
 * JWTs, bearer and basic credentials, card numbers (Luhn-checked), cloud
 * and SaaS keys, private keys, credentials in URLs and connection strings,
 * long random tokens. The daemon applies it to every string before
 * publishing; the matched part becomes "[redacted]" and the rest stays, so
 * "Bearer eyJ…" in a log line still reads as a log line.
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

export function normalizeName(name: string): string {
  return name.toLowerCase().replace(/[-_$@.\s]/g, "");
}

export interface NameRedaction {
  names: ReadonlySet<string>;
  parts: readonly string[];
}

/** The default rule, with extra names from configuration (`--redact name,...`). */
export function nameRedaction(extra: readonly string[] = []): NameRedaction {
  return { names: new Set([...REDACTED_NAMES, ...extra.map(normalizeName)]), parts: SECRET_NAME_PARTS };
}

export function isSecretName(name: string, rule: NameRedaction = DEFAULT_NAME_REDACTION): boolean {
  const n = normalizeName(name);
  return rule.names.has(n) || rule.parts.some((p) => n.includes(p));
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
  { name: "url credentials", pattern: /\b([a-z][a-z0-9+.-]*:\/\/)[^/@\s:]+(?::[^/@\s]*)?@/gi, keepPrefix: true },
  { name: "password parameter", pattern: /\b((?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?token)=)[^;&\s"']+/gi, keepPrefix: true },
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
