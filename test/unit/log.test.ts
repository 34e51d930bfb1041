import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { describe, it } from "node:test";
import { createLogger, levelForVerbosity, serializeError } from "../../src/log.ts";

function capture(level = "debug") {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(
        ...chunk
          .toString()
          .split("\n")
          .filter((l) => l !== ""),
      );
      cb();
    },
  });
  return { logger: createLogger(level, sink), lines };
}

const PASSWORD = "eyJwYXlsb2FkIjoiU0VDUkVULVBBU1NXT1JEIn0";
const TOKEN = Buffer.from(`AWS:${PASSWORD}`).toString("base64");
const ACCESS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const DOCKERCONFIG = Buffer.from(JSON.stringify({ auths: { "https://x": { auth: TOKEN } } })).toString(
  "base64",
);

describe("log redaction", () => {
  it("never writes tokens, secret keys or dockerconfigjson content", async () => {
    const { logger, lines } = capture();
    logger.info({ token: TOKEN }, "a");
    logger.info({ authorizationToken: TOKEN, password: PASSWORD }, "b");
    logger.info({ credentials: { accessKeyId: "AKIA", secretAccessKey: ACCESS_SECRET } }, "c");
    logger.info({ secretAccessKey: ACCESS_SECRET, sessionToken: PASSWORD }, "d");
    logger.info({ secret: { metadata: { name: "x" }, data: { ".dockerconfigjson": DOCKERCONFIG } } }, "e");
    logger.info({ data: { ".dockerconfigjson": DOCKERCONFIG } }, "f");
    logger.info({ obj: { data: { aws_secret_access_key: ACCESS_SECRET } } }, "g");
    logger.info({ aws_secret_access_key: ACCESS_SECRET }, "h");
    logger.info(
      { request: { headers: { authorization: `AWS4-HMAC-SHA256 Credential=${ACCESS_SECRET}` } } },
      "i",
    );
    logger.error({ err: new Error("boom", { cause: new Error("inner") }) }, "j");
    logger.flush();
    await new Promise((r) => setImmediate(r));
    assert.equal(lines.length, 10);
    for (const line of lines) {
      for (const secret of [PASSWORD, TOKEN, ACCESS_SECRET, DOCKERCONFIG]) {
        assert.ok(!line.includes(secret), `leaked in: ${line}`);
      }
    }
    assert.match(lines[0] ?? "", /"token":"\[REDACTED\]"/);
    assert.match(
      lines[9] ?? "",
      /"err":\{"type":"Error","message":"boom","cause":\{"type":"Error","message":"inner"\}\}/,
    );
  });

  it("maps the seed's verbosity: 0-5 info, 6+ debug", () => {
    assert.equal(levelForVerbosity(0), "info");
    assert.equal(levelForVerbosity(5), "info");
    assert.equal(levelForVerbosity(6), "debug");
    assert.equal(levelForVerbosity(9), "debug");
  });

  it("serializes API errors with their status, without bodies or headers", () => {
    const apiErr = Object.assign(new Error("HTTP-Code: 409"), {
      code: 409,
      body: `{"data":"${TOKEN}"}`,
      headers: { authorization: "Bearer x" },
    });
    assert.deepEqual(serializeError(apiErr), { type: "Error", message: "HTTP-Code: 409", status: 409 });
  });
});
