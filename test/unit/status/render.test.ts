import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { renderJson, renderTable, toJson } from "../../../src/status/render.ts";
import { summarize } from "../../../src/status/summary.ts";
import { A, B, credential, HOUR, NOW, ns, pull, SETTINGS, snapshot } from "./fixtures.ts";

const healthy = summarize(
  snapshot({
    namespaces: [ns("team-a", [A]), ns("team-b", [A])],
    pullSecrets: [pull("team-a", A), pull("team-b", A, NOW + 10 * HOUR)],
    credentialSecrets: new Map([credential(A)]),
  }),
  SETTINGS,
  NOW,
);

const troubled = summarize(
  snapshot({
    namespaces: [ns("team-a", [A]), ns("team-c", [B]), ns("team-d", [A])],
    pullSecrets: [pull("team-a", A, NOW - 90_000), { ...pull("team-d", A), managed: false, annotations: {} }],
    credentialSecrets: new Map([credential(A)]),
    lease: {
      namespace: "ci-cd",
      name: "eatr",
      holder: "",
      renewTimeMs: NOW - 60_000,
      leaseDurationSeconds: 1,
    },
  }),
  SETTINGS,
  NOW,
);

void describe("renderTable", () => {
  void it("healthy: the leader, a row per registry and the verdict", () => {
    assert.equal(
      renderTable(healthy, "ci-cd/eatr"),
      [
        "Leader: Lease ci-cd/eatr held by eatr-abc, renewed 2026-12-02T11:59:58Z (2s ago), lease duration 15s",
        "",
        "REGISTRY                                       CREDENTIALS     TOKEN EXPIRES                   ASKING   SERVED   CONFLICT   NO CREDENTIALS",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com   keys (secret)   2026-12-02T22:00:00Z (in 10h)   2        2        0          0",
        "",
        "Healthy: every namespace that asks has eatr's pull secret, valid beyond the safety margin (1h).",
        "",
      ].join("\n"),
    );
  });

  void it("problems: each namespace with its problem and what to do", () => {
    assert.equal(
      renderTable(troubled, "ci-cd/eatr"),
      [
        "Leader: none — Lease ci-cd/eatr is released (renewed 2026-12-02T11:59:00Z (1m ago)): is eatr running?",
        "",
        "REGISTRY                                       CREDENTIALS     TOKEN EXPIRES                      ASKING   SERVED   CONFLICT   NO CREDENTIALS",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com   keys (secret)   2026-12-02T11:58:30Z (1m30s ago)   2        0        1          0",
        "210987654321.dkr.ecr.us-east-1.amazonaws.com   missing         -                                  1        0        0          1",
        "",
        "Problems (3, in 3 namespaces):",
        "NAMESPACE   REGISTRY                                       PROBLEM               DETAIL",
        "team-a      123456789012.dkr.ecr.eu-west-1.amazonaws.com   expired               token expired 2026-12-02T11:58:30Z (1m30s ago): eatr has not renewed it (is eatr running and leading?)",
        "team-c      210987654321.dkr.ecr.us-east-1.amazonaws.com   credentials-missing   no pull secret yet: no credential secret ci-cd/eatr-aws-credentials-210987654321.dkr.ecr.us-east-1.amazonaws.com and the registry is not declared in the config file's registries",
        "team-d      123456789012.dkr.ecr.eu-west-1.amazonaws.com   conflict              secret team-d/123456789012.dkr.ecr.eu-west-1.amazonaws.com is not eatr's (no label app.kubernetes.io/managed-by=eatr), so eatr leaves it alone: rename or delete it and eatr writes its own",
        "",
      ].join("\n"),
    );
  });

  void it("says so when nothing asks, and when the Lease is missing or leader election is off", () => {
    const empty = summarize(snapshot({ lease: undefined }), SETTINGS, NOW);
    assert.equal(
      renderTable(empty, "ci-cd/eatr"),
      [
        "Leader: none (Lease ci-cd/eatr not found: is eatr running?)",
        "",
        "No namespace asks for a registry, and the config file declares none.",
        "",
        "Healthy: every namespace that asks has eatr's pull secret, valid beyond the safety margin (1h).",
        "",
      ].join("\n"),
    );
    const off = summarize(snapshot({ lease: null }), SETTINGS, NOW);
    assert.match(renderTable(off, "ci-cd/eatr"), /^Leader: leader election is off \(-leader-elect=false\)\n/);
  });

  void it("marks a Lease its holder stopped renewing", () => {
    const stale = summarize(
      snapshot({
        lease: {
          namespace: "ci-cd",
          name: "eatr",
          holder: "eatr-abc",
          renewTimeMs: NOW - 60_000,
          leaseDurationSeconds: 15,
        },
      }),
      SETTINGS,
      NOW,
    );
    assert.match(
      renderTable(stale, "ci-cd/eatr"),
      /lease duration 15s — EXPIRED: the holder stopped renewing\n/,
    );
  });
});

void describe("notes", () => {
  void it("what could not be read is said under the table and listed in the JSON", () => {
    const note =
      "cannot list SecretImmutable Events (HTTP 403 Forbidden): the problems they report are not shown";
    const report = summarize(snapshot({ notes: [note] }), SETTINGS, NOW);
    assert.ok(renderTable(report, "ci-cd/eatr").endsWith(`\nNote: ${note}.\n`));
    assert.deepEqual(toJson(report, "ci-cd/eatr").notes, [note]);
  });
});

void describe("renderJson", () => {
  void it("is the documented shape, parseable, with a final newline", () => {
    const text = renderJson(troubled, "ci-cd/eatr");
    assert.ok(text.endsWith("}\n"));
    assert.deepEqual(JSON.parse(text), toJson(troubled, "ci-cd/eatr"));
    assert.deepEqual(toJson(troubled, "ci-cd/eatr"), {
      version: 1,
      generatedAt: "2026-12-02T12:00:00.000Z",
      healthy: false,
      exitCode: 1,
      tokenSafetyMarginSeconds: 3600,
      leader: {
        lease: "ci-cd/eatr",
        found: true,
        holder: null,
        renewTime: "2026-12-02T11:59:00.000Z",
        leaseDurationSeconds: 1,
        expired: true,
      },
      registries: [
        {
          registry: A,
          credentials: {
            source: "keys",
            from: "secret",
            secret: `ci-cd/eatr-aws-credentials-${A}`,
            keys: ["aws_access_key_id", "aws_secret_access_key"],
            problem: null,
          },
          token: { expiresAt: "2026-12-02T11:58:30.000Z", fetchedAt: "2026-12-02T11:00:00.000Z" },
          namespaces: {
            asking: ["team-a", "team-d"],
            served: [],
            conflict: ["team-d"],
            lackingCredentials: [],
          },
        },
        {
          registry: B,
          credentials: {
            source: null,
            from: null,
            secret: `ci-cd/eatr-aws-credentials-${B}`,
            keys: [],
            problem: {
              reason: "missing",
              detail: `no credential secret ci-cd/eatr-aws-credentials-${B} and the registry is not declared in the config file's registries`,
            },
          },
          token: { expiresAt: null, fetchedAt: null },
          namespaces: { asking: ["team-c"], served: [], conflict: [], lackingCredentials: ["team-c"] },
        },
      ],
      problems: troubled.problems.map((p) => ({ ...p })),
      notes: [],
    });
    assert.deepEqual(
      toJson(troubled, "ci-cd/eatr").problems.map((p) => p.reason),
      ["expired", "credentials-missing", "conflict"],
    );
  });

  void it("a missing Lease is found: false; leader election off is null", () => {
    assert.deepEqual(toJson(summarize(snapshot({ lease: undefined }), SETTINGS, NOW), "ns/x").leader, {
      lease: "ns/x",
      found: false,
      holder: null,
      renewTime: null,
      leaseDurationSeconds: null,
      expired: true,
    });
    assert.equal(toJson(summarize(snapshot({ lease: null }), SETTINGS, NOW), "ns/x").leader, null);
    assert.equal(toJson(healthy, "ci-cd/eatr").healthy, true);
  });
});
