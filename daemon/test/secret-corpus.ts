/**
 * Secret shapes a captured value may hold, and text around them that must survive.
 * Every `secret` must be absent from anything published; shared by the redaction
 * unit test and the capture tests over encoded messages.
 */
export interface SecretShape {
  shape: string;
  secret: string;
  /**
   * Where it sits and what gives it away: its variable or field name ("name"); its value in a
   * string ("value"); its value used as a Map or object key ("key"); its value starting near the
   * 240th character of a long string, past which strings are cut ("long"); its value in a Buffer or
   * typed array ("buffer"); the header name before it in a raw header list ("header"); the flag
   * before it on the app's command line ("argv").
   */
  by: "name" | "value" | "key" | "long" | "buffer" | "header" | "argv";
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
  // Found by a session trying to get secrets past Seismo (issue 15), and more of the same kinds.
  { shape: "password in a raw JSON body", by: "value", name: "body", secret: "Tr0ub4dor&3" },
  { shape: "api key nested in a raw JSON body", by: "value", name: "body2", secret: "plainkey-77" },
  { shape: "DB_PASSWORD= in an env line", by: "value", name: "envLine", secret: "pl41n-db-pw" },
  { shape: "PGPASSWORD= in an env line", by: "value", name: "envLine2", secret: "pgpw-771" },
  { shape: "smtp.pass: in a config line", by: "value", name: "conf", secret: "mailpw-2231" },
  { shape: "client_secret: quoted in YAML", by: "value", name: "yaml", secret: "yaml-secret-5" },
  { shape: "access_token in a query string", by: "value", name: "qs", secret: "qs-token-8842" },
  { shape: "an @ in a URL's password", by: "value", name: "url2", secret: "p@ss-w0rd" },
  { shape: "password only in a redis URL", by: "value", name: "url3", secret: "redispw-55" },
  { shape: "US social security number in text", by: "value", name: "text", secret: "219-09-9999" },
  { shape: "IBAN with spaces", by: "value", name: "bank", secret: "DE89 3704 0044 0532 0130 00" },
  { shape: "IBAN compact", by: "value", name: "bank2", secret: "GB82WEST12345698765432" },
  { shape: "smtp.pass as a name", by: "name", name: "smtp.pass", secret: "smtp-name-pw" },
  { shape: "SMTP_PASS as a name", by: "name", name: "SMTP_PASS", secret: "smtp-env-pw" },
  { shape: "userSSN as a name", by: "name", name: "userSSN", secret: "nm-ssn-1" },
  { shape: "ibanNumber as a name", by: "name", name: "ibanNumber", secret: "nm-iban-1" },
  { shape: "JWT as a key", by: "key", name: "byToken", secret: "eyJhbGciOiJIUzI1NiJ9.eyJrZXkiOiJtYXAifQ.c2lnbmF0dXJlLWtleS1vbmx5" },
  { shape: "GitHub token as a key", by: "key", name: "byRepoToken", secret: "ghp_KeyKeyKeyKeyKeyKeyKeyKeyKeyKey123456" },
  { shape: "Stripe key as a key", by: "key", name: "byStripe", secret: "sk_live_KeyedByTheSecretItself77" },
  { shape: "AWS key id as a key", by: "key", name: "byAws", secret: "AKIAKEYEDBYTHEKEY123" },
  { shape: "bearer token past character 240", by: "long", name: "long1", secret: "Bearer longLONGlong123456789abc" },
  { shape: "JWT past character 240", by: "long", name: "long2", secret: "eyJhbGciOiJIUzI1NiJ9.eyJsb25nIjoidHJ1ZSJ9.bG9uZy1zdHJpbmctc2lnbmF0dXJl" },
  { shape: "card number past character 240", by: "long", name: "long3", secret: "4012 8888 8888 1881" },
  { shape: "GitHub token past character 240", by: "long", name: "long4", secret: "ghp_LongStringTokenLongStringToken12345" },
  { shape: "password= past character 240", by: "long", name: "long5", secret: "password=l0ng-cut-pw" },
  { shape: "password= in a Buffer", by: "buffer", name: "buf1", secret: "password=buffered-pw" },
  { shape: "JWT in a Buffer", by: "buffer", name: "buf2", secret: "eyJhbGciOiJIUzI1NiJ9.eyJidWYiOiJ5ZXMifQ.YnVmZmVyLXNpZ25hdHVyZQ" },
  { shape: "bearer token in a Uint8Array", by: "buffer", name: "buf3", secret: "Bearer typedArrayToken123456" },
  { shape: "authorization in raw headers", by: "header", name: "Authorization", secret: "Token rawhdr-opaque" },
  { shape: "x-api-key in raw headers", by: "header", name: "X-Api-Key", secret: "rawkey-992" },
  { shape: "cookie in raw headers", by: "header", name: "Cookie", secret: "sid=rawcookie-1" },
  { shape: "--smtp-pass on the command line", by: "argv", name: "--smtp-pass", secret: "argv-smtp-pw" },
  { shape: "--db-password= on the command line", by: "argv", name: "--db-password", secret: "argv-db-pw" },
  { shape: "a URL with credentials on the command line", by: "argv", name: "--upstream", secret: "argv-url-pw" },
];

/** How each secret appears in a string when it is found by value (some need context around them). */
export function inContext(s: SecretShape): string {
  if (s.shape === "password in a database URL") return `postgres://app:${s.secret}@db.internal:5432/shop`;
  if (s.shape === "password in a connection string") return `Server=db;User Id=app;Password=${s.secret};`;
  if (s.shape === "password in a raw JSON body") return `{"user":"ada","password":"${s.secret}","remember":true}`;
  if (s.shape === "api key nested in a raw JSON body") return `{"upstream":{"apiKey": "${s.secret}"}}`;
  if (s.shape === "DB_PASSWORD= in an env line") return `DB_HOST=db DB_PASSWORD=${s.secret} DB_PORT=5432`;
  if (s.shape === "PGPASSWORD= in an env line") return `PGPASSWORD=${s.secret}`;
  if (s.shape === "smtp.pass: in a config line") return `smtp.host: mail, smtp.pass: ${s.secret}`;
  if (s.shape === "client_secret: quoted in YAML") return `client_secret: "${s.secret}"`;
  if (s.shape === "access_token in a query string") return `GET /cb?state=1&access_token=${s.secret}&x=2`;
  if (s.shape === "an @ in a URL's password") return `postgres://app:${s.secret}@db:5432/shop`;
  if (s.shape === "password only in a redis URL") return `redis://:${s.secret}@cache:6379/0`;
  if (s.by === "long") return `${"l".repeat(240)} ${s.secret} and then more text`;
  if (s.by === "argv") return s.shape.includes("URL") ? `https://svc:${s.secret}@upstream.internal` : s.secret;
  if (s.by === "value") return `before ${s.secret} after`;
  return s.secret;
}
