/**
 * The soak checker's self-test: recorded histories judged again. A clean short-profile run holds all six
 * invariants; the excerpt each deliberately broken build left (test/soak/broken/*.patch, recorded with
 * `npm run soak -- --broken <name> --save-fixture`) fails exactly its invariant; small hand-written
 * histories pin each rule, including what is legitimately excluded.
 */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { BROKEN } from "../../soak/broken.ts";
import { backoffSteps, check, type InvariantId, type InvariantResult } from "../../soak/checker.ts";
import { readHistory, type Entry, type MetaEntry, type SecretEntry } from "../../soak/history.ts";
import { makeSchedule, type Profile } from "../../soak/schedule.ts";

const FIXTURES = fileURLToPath(new URL("../../soak/fixtures/", import.meta.url));

const statusOf = (results: readonly InvariantResult[], id: InvariantId): string =>
  results.find((r) => r.id === id)?.status ?? "missing";

const failing = (results: readonly InvariantResult[]): InvariantId[] =>
  results.filter((r) => r.status === "fail").map((r) => r.id);

const HOST = "200000001111.dkr.ecr.eu-west-1.amazonaws.com";
const META: MetaEntry = {
  kind: "meta",
  t: 0,
  seed: "unit",
  profile: {},
  registries: [{ index: 0, host: HOST, accountId: "200000001111", role: false }],
  hostNamespace: "soak-host",
  lease: "soak-host/eatr",
  timings: {
    leaseMs: 4_000,
    renewDeadlineMs: 3_000,
    retryMs: 1_000,
    renewalIntervalMs: 120_000,
    safetyMarginMs: 3_600_000,
    stsDurationMs: 900_000,
  },
  mainJs: "dist/main.js",
};

function secret(rv: number, over: Partial<SecretEntry> = {}): SecretEntry {
  return {
    kind: "secret",
    t: rv,
    type: "MODIFIED",
    ns: "soak-n0001",
    name: HOST,
    uid: "u1",
    rv: String(rv),
    managed: true,
    managers: ["eatr/a"],
    ...over,
  };
}

const lease = (rv: number, holder: string): Entry => ({
  kind: "lease",
  t: rv,
  rv: String(rv),
  holder,
  transitions: 0,
});

const labelled = (rv: number, value: string | undefined, type: "ADDED" | "MODIFIED" = "MODIFIED"): Entry => ({
  kind: "namespace",
  t: rv,
  type,
  name: "soak-n0001",
  uid: "ns1",
  rv: String(rv),
  labels: value === undefined ? {} : { [HOST]: value },
  phase: "Active",
});

describe("soak checker on recorded histories", () => {
  it("a clean short-profile history holds all six invariants", () => {
    const results = check(readHistory(join(FIXTURES, "clean.jsonl")));
    assert.deepEqual(
      results.map((r) => [r.id, r.status]),
      results.map((r) => [r.id, "pass"]),
    );
  });

  for (const [name, { invariant }] of Object.entries(BROKEN)) {
    it(`the excerpt of the broken build ${name} fails exactly invariant ${invariant}`, () => {
      const file = join(FIXTURES, `${name}.jsonl`);
      assert.ok(readdirSync(FIXTURES).includes(`${name}.jsonl`), `${file} exists`);
      const results = check(readHistory(file));
      assert.deepEqual(failing(results), [invariant]);
    });
  }
});

describe("soak checker rules", () => {
  it("1: a write by anyone but the Lease holder of that moment fails; the holder's passes", () => {
    const ok = check([META, lease(10, "a"), secret(11), lease(12, "a")]);
    assert.equal(statusOf(ok, "writers"), "pass");
    const late = check([META, lease(10, "a"), lease(20, "b"), secret(21, { managers: ["eatr/a"] })]);
    assert.equal(statusOf(late, "writers"), "fail");
    const released = check([META, lease(10, "a"), lease(20, ""), secret(21)]);
    assert.equal(statusOf(released, "writers"), "fail");
    // The generator's own edits are not eatr's writes.
    const byHand = check([META, lease(10, "a"), secret(11, { managers: ["soak-generator"] })]);
    assert.equal(statusOf(byHand, "writers"), "pass");
  });

  it("1: writes where a Lease watch gap may hide a takeover are not judged; a gap that hid nothing is", () => {
    const gap: Entry = {
      kind: "watch-gap",
      t: 15,
      resource: "leases",
      detail: "410",
      fromRv: "10",
      toRv: "30",
    };
    const relisted: Entry = { kind: "lease", t: 16, rv: "25", holder: "b", transitions: 1 };
    // a held the Lease at 10, b at 25 (relisted): when b took over in between is unknown.
    const hidden = check([META, lease(10, "a"), gap, relisted, secret(20, { managers: ["eatr/a"] })]);
    assert.equal(statusOf(hidden, "writers"), "pass");
    assert.equal(hidden[0]?.counts["writes in such a gap (not verifiable)"], 1);
    // The relist found the version last seen: nothing was hidden, and a's write after b's term began fails.
    const nothing: Entry = { ...gap, fromRv: "12", toRv: "14" };
    const late = check([META, lease(10, "a"), lease(12, "b"), nothing, secret(20, { managers: ["eatr/a"] })]);
    assert.equal(statusOf(late, "writers"), "fail");
  });

  it("3: a foreign secret rewritten by anyone fails", () => {
    const op: Entry = {
      kind: "op",
      t: 5,
      actor: "generator",
      action: { kind: "foreign-create", ns: "soak-n0001", host: HOST },
      outcome: "ok",
      uid: "f1",
      rv: "5",
    };
    assert.equal(statusOf(check([META, op]), "foreign"), "pass");
    assert.equal(
      statusOf(check([META, op, secret(6, { uid: "f1", managed: true, managers: ["eatr/a"] })]), "foreign"),
      "fail",
    );
  });

  it("4: a uid change while labelled fails; after a label removal or a hand deletion it does not", () => {
    const born = secret(11, { type: "ADDED" });
    const gone = secret(13, { type: "DELETED", managers: [] });
    const reborn = secret(14, { type: "ADDED", uid: "u2" });
    assert.equal(statusOf(check([META, labelled(10, "true", "ADDED"), born, gone, reborn]), "uid"), "fail");
    assert.equal(
      statusOf(check([META, labelled(10, "true", "ADDED"), born, labelled(12, undefined), gone]), "uid"),
      "pass",
    );
    // Relabelled in between: the label did not stay, so a delete-then-create is allowed.
    const goneLater = secret(15, { type: "DELETED", managers: [] });
    assert.equal(
      statusOf(
        check([
          META,
          labelled(10, "true", "ADDED"),
          born,
          labelled(12, "false"),
          labelled(13, "true"),
          goneLater,
        ]),
        "uid",
      ),
      "pass",
    );
    const handDelete: Entry = {
      kind: "op",
      t: 12,
      actor: "generator",
      action: { kind: "pull-delete", ns: "soak-n0001", host: HOST },
      outcome: "ok",
      uid: "u1",
    };
    assert.equal(
      statusOf(check([META, labelled(10, "true", "ADDED"), born, handDelete, gone, reborn]), "uid"),
      "pass",
    );
  });

  it("2: a namespace that asks for a registry needs eatr's secret with a token valid past the margin", () => {
    const at = 1_000_000;
    const conv: Entry = {
      kind: "convergence",
      t: 100,
      settledAt: 90,
      boundMs: 60_000,
      boundFormula: "test",
      convergedAfterMs: 10,
    };
    const state = (expiresIn: number, labels: Record<string, string>): Entry => ({
      kind: "state",
      t: 100,
      at,
      namespaces: [
        {
          name: "soak-n0001",
          phase: "Active",
          labels,
          secrets: [
            {
              name: HOST,
              uid: "u1",
              rv: "5",
              managed: true,
              owned: true,
              tokenIssued: true,
              tokenExpiresAtMs: at + expiresIn,
            },
          ],
        },
      ],
    });
    assert.equal(statusOf(check([META, conv, state(7_200_000, { [HOST]: "true" })]), "convergence"), "pass");
    assert.equal(statusOf(check([META, conv, state(600_000, { [HOST]: "true" })]), "convergence"), "fail");
    assert.equal(statusOf(check([META, conv, state(7_200_000, { [HOST]: "True" })]), "convergence"), "fail");
  });

  it("5: more successful AWS calls than the formula allows fail", () => {
    const conv: Entry = {
      kind: "convergence",
      t: 100,
      settledAt: 90,
      boundMs: 60_000,
      boundFormula: "test",
      convergedAfterMs: 10,
    };
    const calls = (n: number): Entry[] =>
      Array.from({ length: n }, (_, i) => ({
        kind: "aws-call",
        t: i,
        service: "ecr",
        registry: 0,
        outcome: "ok",
      }));
    // One term, no rotation, renewals ceil(100 ms / 120 s) + 1 = 2: at most 3 successful calls.
    assert.equal(statusOf(check([META, lease(1, "a"), conv, ...calls(3)]), "cost"), "pass");
    assert.equal(statusOf(check([META, lease(1, "a"), conv, ...calls(4)]), "cost"), "fail");
  });

  it("6: any hit of the secret-material scan fails", () => {
    const scan = (hits: { where: string; what: string; excerpt: string }[]): Entry => ({
      kind: "leak-scan",
      t: 1,
      logLines: 10,
      events: 1,
      metricsScrapes: 1,
      secretsKnown: 4,
      hits,
    });
    assert.equal(statusOf(check([META, scan([])]), "secrets"), "pass");
    assert.equal(
      statusOf(
        check([META, scan([{ where: "r1 log:3", what: "ECR password", excerpt: "<ECR password>" }])]),
        "secrets",
      ),
      "fail",
    );
  });

  it("backoff steps within a fault window follow 1 s doubling to 5 min, plus the recovery", () => {
    assert.equal(backoffSteps(0), 2);
    assert.equal(backoffSteps(1_000), 3);
    assert.equal(backoffSteps(30_000), 6);
    assert.equal(backoffSteps(3_600_000), 21);
  });
});

describe("soak schedule", () => {
  const profile: Profile = { seed: "s1", durationMs: 120_000, namespaces: 6, registries: 2, replicas: 3 };

  it("the same seed gives the same schedule, another seed another one", () => {
    assert.deepEqual(makeSchedule(profile), makeSchedule({ ...profile }));
    assert.notDeepEqual(makeSchedule(profile).steps, makeSchedule({ ...profile, seed: "s2" }).steps);
  });

  it("holds both workload and faults, in time order, within the duration", () => {
    const s = makeSchedule(profile);
    assert.ok(s.steps.some((x) => x.actor === "generator"));
    assert.ok(s.steps.some((x) => x.actor === "nemesis"));
    for (const [i, x] of s.steps.entries()) {
      assert.ok(x.at >= 0 && x.at <= profile.durationMs, `step ${String(i)} at ${String(x.at)}`);
      if (i > 0) assert.ok(x.at >= (s.steps[i - 1]?.at ?? 0));
    }
  });
});
