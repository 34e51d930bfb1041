import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CredentialProblems } from "../../../src/reconcilers/credential-problems.ts";
import { FakeClock } from "../../support/fake-clock.ts";

const R = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
const where = { apiVersion: "v1", kind: "Secret", namespace: "ci-cd", name: `eatr-aws-credentials-${R}` };

function setup(users: string[]) {
  const clock = new FakeClock();
  const events: string[] = [];
  const logs: string[] = [];
  const changes: string[] = [];
  const problems = new CredentialProblems({
    clock,
    events: { record: (_obj, _type, reason, message) => events.push(`${reason}: ${message}`) },
    logger: { warn: (_o, msg) => logs.push(`warn ${msg}`), info: (_o, msg) => logs.push(`info ${msg}`) },
    usersOf: () => users,
    observer: {
      raised: (_r, reason) => changes.push(`raised ${reason}`),
      cleared: (_r, reason) => changes.push(`cleared ${reason}`),
    },
  });
  return { clock, events, logs, changes, problems, users };
}

describe("CredentialProblems", () => {
  it("reports a new problem anew and drops namespaces that stopped asking", () => {
    const t = setup(["a", "b"]);
    t.problems.report(R, "a", { reason: "missing", where, detail: "No credential secret." });
    t.problems.report(R, "b", { reason: "missing", where, detail: "No credential secret." });
    t.problems.report(R, "gone", { reason: "missing", where, detail: "No credential secret." });
    t.clock.advance(2_000);
    assert.match(
      t.events[0] ?? "",
      /^CredentialsMissing: No credential secret\. 2 namespaces ask for registry .* \(a, b\)/,
    );
    t.problems.report(R, "a", { reason: "invalid", where, detail: "Key aws_region is not a region." });
    t.clock.advance(2_000);
    assert.match(t.events[1] ?? "", /^InvalidCredentials: Key aws_region is not a region\. 1 namespace ask/);
    assert.deepEqual(t.changes, ["raised missing", "cleared missing", "raised invalid"]);
  });

  it("ends when nobody asks any more, and says when the credentials work again", () => {
    const t = setup(["a"]);
    t.problems.report(R, "a", { reason: "missing", where, detail: "x" });
    t.clock.advance(2_000);
    t.problems.resolved(R);
    assert.equal(t.problems.has(R), false);
    assert.equal(t.logs.at(-1), "info registry credentials usable again");
    t.problems.report(R, "a", { reason: "missing", where, detail: "x" });
    t.users.length = 0;
    t.clock.advance(2_000);
    assert.equal(t.problems.has(R), false, "no namespace asks: nothing to report");
    assert.equal(t.events.length, 1);
  });
});
