import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, valueProblem } from "../../../src/config/config-error.ts";
import { redactCredentials, redactValue } from "../../../src/config/redact.ts";

const flag = { kind: "flag", spelling: "-ecr-endpoint" } as const;

describe("redactCredentials", () => {
  const table: [string, string][] = [
    ["https://user:secret@ecr.example.com", "https://[redacted]@ecr.example.com"],
    ["http://user:secret@host:8080/path", "http://[redacted]@host:8080/path"],
    ["https://tokenonly@host", "https://[redacted]@host"],
    ["https://user:p@ss@host", "https://[redacted]@host"],
    ["user:secret@host", "[redacted]@host"],
    ['= "ftp://u:secret@host": expected', '= "ftp://[redacted]@host": expected'],
    [
      "https://host/?X-Amz-Credential=AKIA%2F20260101&X-Amz-Signature=deadbeef&X-Amz-Security-Token=tok&X-Amz-Date=1",
      "https://host/?X-Amz-Credential=[redacted]&X-Amz-Signature=[redacted]&X-Amz-Security-Token=[redacted]&X-Amz-Date=1",
    ],
    [
      "https://host/?token=a&password=b&client_secret=c&page=2",
      "https://host/?token=[redacted]&password=[redacted]&client_secret=[redacted]&page=2",
    ],
    // Kept: nothing secret in them.
    ["https://api.ecr.eu-west-1.amazonaws.com", "https://api.ecr.eu-west-1.amazonaws.com"],
    ["write to ops@example.com", "write to ops@example.com"],
    ['port (env EATR_PORT) = "http": expected a port', 'port (env EATR_PORT) = "http": expected a port'],
    ["time: invalid duration", "time: invalid duration"],
  ];
  for (const [text, want] of table) {
    it(`${JSON.stringify(text)} -> ${JSON.stringify(want)}`, () => {
      assert.equal(redactCredentials(text), want);
      assert.equal(redactCredentials(want), want, "idempotent");
    });
  }

  it("redacts a whole value's user info even when the password holds spaces or quotes", () => {
    assert.equal(redactValue(`https://user:my "pass word@host`), "https://[redacted]@host");
  });
});

describe("config errors never echo a credential", () => {
  const secrets = ["secret", "hunter2", "deadbeef"];
  const cases: unknown[] = [
    "http://user:secret@host",
    "https://admin:hunter2@proxy/?X-Amz-Signature=deadbeef",
    { url: "https://user:secret@host" },
    ["https://u:hunter2@h"],
  ];
  for (const written of cases) {
    it(`valueProblem and ConfigError hide ${JSON.stringify(written)}`, () => {
      const line = valueProblem("ecr-endpoint", flag, written, "a URL without a user name or password");
      const error = new ConfigError([line, `unexpected argument ${JSON.stringify(written)}`]);
      for (const text of [line, error.message, ...error.problems]) {
        for (const s of secrets) assert.doesNotMatch(text, new RegExp(s), text);
      }
      assert.match(line, /\[redacted\]/);
    });
  }
});
