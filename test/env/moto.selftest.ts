/**
 * By-hand check of the moto peer: `node test/env/moto.selftest.ts` (installs moto once, ~25 s cold).
 * Starts moto_server, calls ECR GetAuthorizationToken through the real AWS SDK, prints the answer, stops it,
 * and checks that the server's process group is gone. Exits non-zero on any failure.
 */
import assert from "node:assert/strict";
import { ECRClient, GetAuthorizationTokenCommand } from "@aws-sdk/client-ecr";
import { ensureMoto, MOTO_VERSION, startMoto } from "./moto.ts";

function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

let t = performance.now();
const dir = await ensureMoto();
console.log(`moto ${MOTO_VERSION} ready in ${dir} (${Math.round(performance.now() - t)} ms)`);

t = performance.now();
const moto = await startMoto();
console.log(
  `moto_server pid ${moto.pid} answering on ${moto.endpoint} (${Math.round(performance.now() - t)} ms)`,
);
try {
  const client = new ECRClient({
    endpoint: moto.endpoint,
    region: "eu-west-1",
    credentials: { accessKeyId: "AKIDMOTOSELFTEST", secretAccessKey: "moto-selftest-secret" },
    maxAttempts: 1,
  });
  const out = await client.send(new GetAuthorizationTokenCommand({}));
  client.destroy();
  const data = out.authorizationData?.[0];
  console.log("GetAuthorizationToken ->", JSON.stringify(out.authorizationData, null, 2));
  assert.ok(data?.authorizationToken, "authorizationToken missing");
  const decoded = Buffer.from(data.authorizationToken, "base64").toString("utf8");
  console.log(`decoded token: ${decoded}`);
  assert.match(decoded, /^AWS:.+/);
  assert.equal(data.proxyEndpoint, "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com");
  assert.ok(data.expiresAt instanceof Date);
  // moto hard-codes an expiry in the past: code under test must cope with it.
  assert.equal(data.expiresAt.toISOString(), "2015-01-01T00:00:00.000Z");
} finally {
  await moto.stop();
}
assert.equal(groupAlive(moto.pid), false, "moto_server process group still alive after stop()");
console.log("moto selftest: OK (server stopped)");
