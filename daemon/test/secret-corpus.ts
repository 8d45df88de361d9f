/**
 * Secret shapes a captured value may hold, and text around them that must survive.
 * Every `secret` must be absent from anything published; shared by the redaction
 * unit test and the capture tests over encoded messages.
 */
export interface SecretShape {
  shape: string;
  secret: string;
  /** Where it sits: a variable or field name ("name") or only its value gives it away ("value"). */
  by: "name" | "value";
  name: string;
}

export const SECRET_CORPUS: SecretShape[] = [
  { shape: "password variable", by: "name", name: "password", secret: "hunter2-correct-horse" },
  { shape: "camelCase db password", by: "name", name: "dbPassword", secret: "Pg!pass-4417" },
  { shape: "env-style secret", by: "name", name: "STRIPE_SECRET", secret: "plain-words-no-shape" },
  { shape: "api key field", by: "name", name: "apiKey", secret: "k-7781-short" },
  { shape: "x-api-key header", by: "name", name: "x-api-key", secret: "hdr-key-0042" },
  { shape: "authorization header", by: "name", name: "authorization", secret: "Negotiate YIIGhgYJKoZIhvcSAQICAQBuggZ1MIIGcaADAgEFoQMC" },
  { shape: "cookie header", by: "name", name: "cookie", secret: "connect.sid=s%3Aabc.def" },
  { shape: "set-cookie header", by: "name", name: "set-cookie", secret: "session=77aa; HttpOnly" },
  { shape: "session id", by: "name", name: "sessionId", secret: "sess-123456" },
  { shape: "refresh token", by: "name", name: "refresh_token", secret: "rt-opaque-99" },
  { shape: "client secret", by: "name", name: "clientSecret", secret: "cs-opaque-31" },
  { shape: "private key field", by: "name", name: "privateKey", secret: "pk-inline-1" },
  { shape: "ssn", by: "name", name: "ssn", secret: "078-05-1120" },
  { shape: "cvv", by: "name", name: "cvv", secret: "737" },
  { shape: "pin", by: "name", name: "pin", secret: "4921" },
  { shape: "otp", by: "name", name: "otp", secret: "880021" },
  { shape: "credentials object member", by: "name", name: "credentials", secret: "creds-blob-7" },
  { shape: "JWT in a string", by: "value", name: "note", secret: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U" },
  { shape: "bearer token in a log line", by: "value", name: "line", secret: "Bearer abcDEF123456ghiJKL789" },
  { shape: "basic credentials", by: "value", name: "raw", secret: "Basic dXNlcjpwYXNzd29yZA==" },
  { shape: "Visa card number", by: "value", name: "input", secret: "4111 1111 1111 1111" },
  { shape: "Mastercard number with dashes", by: "value", name: "input2", secret: "5500-0000-0000-0004" },
  { shape: "Amex number", by: "value", name: "input3", secret: "378282246310005" },
  { shape: "AWS access key id", by: "value", name: "cfg", secret: "AKIAIOSFODNN7EXAMPLE" },
  { shape: "AWS secret access key", by: "value", name: "cfg2", secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" },
  { shape: "PEM private key", by: "value", name: "pem", secret: "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA75\n-----END RSA PRIVATE KEY-----" },
  { shape: "GitHub token", by: "value", name: "ci", secret: "ghp_16C7e42F292c6912E7710c838347Ae178B4a" },
  { shape: "Slack bot token", by: "value", name: "chat", secret: "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx" },
  { shape: "Slack webhook URL", by: "value", name: "hook", secret: "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX" },
  { shape: "Stripe live key", by: "value", name: "pay", secret: "sk_live_4eC39HqLyjWDarjtT1zdp7dc" },
  { shape: "Google API key", by: "value", name: "maps", secret: "AIzaSyA-1234567890abcdefghijklmnopqrstu" },
  { shape: "npm token", by: "value", name: "npmrc", secret: "npm_abcdefghijklmnopqrstuvwxyz0123456789" },
  { shape: "password in a database URL", by: "value", name: "url", secret: "s3cr3t-db-pass" },
  { shape: "password in a connection string", by: "value", name: "conn", secret: "Zq9-conn-pass" },
  { shape: "hex signing secret", by: "value", name: "blob", secret: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08" },
  { shape: "OpenAI-style key", by: "value", name: "llm", secret: "sk-proj-AbCdEf1234567890GhIjKlMn" },
];

/** How each secret appears in a string when it is found by value (some need context around them). */
export function inContext(s: SecretShape): string {
  if (s.shape === "password in a database URL") return `postgres://app:${s.secret}@db.internal:5432/shop`;
  if (s.shape === "password in a connection string") return `Server=db;User Id=app;Password=${s.secret};`;
  if (s.by === "value") return `before ${s.secret} after`;
  return s.secret;
}
