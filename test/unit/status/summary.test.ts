import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseLabelSelector } from "../../../src/domain/label-selector.ts";
import { summarize, type Problem } from "../../../src/status/summary.ts";
import { A, B, credential, event, HOST_NS, HOUR, NOW, ns, pull, SETTINGS, snapshot } from "./fixtures.ts";

const credName = (host: string) => `eatr-aws-credentials-${host}`;
const reasons = (problems: readonly Problem[]) => problems.map((p) => [p.namespace, p.registry, p.reason]);

void describe("summarize: namespaces", () => {
  void it("healthy: every asking namespace has eatr's current pull secret, exit 0", () => {
    const report = summarize(
      snapshot({
        namespaces: [ns("team-b", [A]), ns("team-a", [A]), ns("other", [])],
        pullSecrets: [pull("team-a", A, NOW + 11 * HOUR), pull("team-b", A, NOW + 10 * HOUR)],
        credentialSecrets: new Map([credential(A)]),
      }),
      SETTINGS,
      NOW,
    );
    assert.equal(report.exitCode, 0);
    assert.deepEqual(report.problems, []);
    assert.equal(report.registries.length, 1);
    const [r] = report.registries;
    assert.deepEqual(r?.asking, ["team-a", "team-b"]);
    assert.deepEqual(r.served, ["team-a", "team-b"]);
    assert.deepEqual(r.conflict, []);
    assert.deepEqual(r.lackingCredentials, []);
    assert.equal(r.tokenExpiresAtMs, NOW + 10 * HOUR, "the earliest expiry");
    assert.equal(r.tokenFetchedAtMs, NOW - HOUR);
    assert.deepEqual(r.credentials, {
      source: "keys",
      from: "secret",
      secret: `${HOST_NS}/${credName(A)}`,
      keys: ["aws_access_key_id", "aws_secret_access_key"],
      problem: null,
    });
  });

  void it("skips namespaces being deleted, as eatr does", () => {
    const report = summarize(
      snapshot({ namespaces: [ns("gone", [A], true)], credentialSecrets: new Map([credential(A)]) }),
      SETTINGS,
      NOW,
    );
    assert.deepEqual(report.registries, []);
    assert.equal(report.exitCode, 0);
  });

  void it('ignores label values other than exactly "true" and keys that are not registry hosts', () => {
    const report = summarize(
      snapshot({
        namespaces: [{ name: "n", labels: { [A]: "True", "example.com": "true" }, terminating: false }],
      }),
      SETTINGS,
      NOW,
    );
    assert.deepEqual(report.registries, []);
  });

  void it("judges by the controller's registry policy: a selector serves, a label opts out, restricted mode drops undeclared", () => {
    const report = summarize(
      snapshot({
        namespaces: [
          { name: "team-x", labels: { team: "x" }, terminating: false },
          { name: "team-y", labels: { team: "x", [A]: "false" }, terminating: false },
          ns("team-z", [B]),
        ],
        pullSecrets: [pull("team-x", A, NOW + 11 * HOUR)],
        credentialSecrets: new Map([credential(A), credential(B)]),
      }),
      {
        ...SETTINGS,
        registries: [{ host: A, source: "keys", namespaceSelector: parseLabelSelector("team=x") }],
        restrictToDeclaredRegistries: true,
      },
      NOW,
    );
    assert.deepEqual(
      report.registries.map((r) => [r.registry, r.asking, r.served]),
      [[A, ["team-x"], ["team-x"]]],
      "team-x by the selector; team-y opted out by its label; B is not declared",
    );
    assert.equal(report.exitCode, 0);
  });

  const cases: {
    name: string;
    secret: ReturnType<typeof pull> | undefined;
    reason: Problem["reason"] | undefined;
    served: boolean;
    conflict?: boolean;
    detail?: RegExp;
  }[] = [
    {
      name: "no pull secret: missing",
      secret: undefined,
      reason: "missing",
      served: false,
      detail: /eatr has not written it/,
    },
    {
      name: "someone else's secret of that name: conflict",
      secret: { ...pull("team-a", A), managed: false, annotations: {} },
      reason: "conflict",
      served: false,
      conflict: true,
      detail:
        /^secret team-a\/123456789012\S+ is not eatr's \(no label app\.kubernetes\.io\/managed-by=eatr\)/,
    },
    {
      name: "token past its expiry: expired, not served",
      secret: pull("team-a", A, NOW - 5 * 60_000),
      reason: "expired",
      served: false,
      detail: /^token expired 2026-12-02T11:55:00Z \(5m ago\)/,
    },
    {
      name: "token expiring exactly now: expired",
      secret: pull("team-a", A, NOW),
      reason: "expired",
      served: false,
    },
    {
      name: "token expiring within the margin: expiring, still served",
      secret: pull("team-a", A, NOW + HOUR - 1000),
      reason: "expiring",
      served: true,
      detail: /^token expires 2026-12-02T12:59:59Z \(in 59m59s\), within the safety margin 1h/,
    },
    {
      name: "token expiring just at the margin: fine",
      secret: pull("team-a", A, NOW + HOUR),
      reason: undefined,
      served: true,
    },
    {
      name: "no expiry annotation: served",
      secret: pull("team-a", A, undefined),
      reason: undefined,
      served: true,
    },
  ];
  for (const c of cases) {
    void it(c.name, () => {
      const report = summarize(
        snapshot({
          namespaces: [ns("team-a", [A])],
          pullSecrets: c.secret === undefined ? [] : [c.secret],
          credentialSecrets: new Map([credential(A)]),
        }),
        SETTINGS,
        NOW,
      );
      assert.deepEqual(reasons(report.problems), c.reason === undefined ? [] : [["team-a", A, c.reason]]);
      assert.equal(report.exitCode, c.reason === undefined ? 0 : 1);
      assert.deepEqual(report.registries[0]?.served, c.served ? ["team-a"] : []);
      assert.deepEqual(report.registries[0]?.conflict, c.conflict === true ? ["team-a"] : []);
      if (c.detail) assert.match(report.problems[0]?.detail ?? "", c.detail);
    });
  }

  void it("the safety margin is the option's: 5m makes a token with 10m left fine", () => {
    const report = summarize(
      snapshot({
        namespaces: [ns("team-a", [A])],
        pullSecrets: [pull("team-a", A, NOW + 10 * 60_000)],
        credentialSecrets: new Map([credential(A)]),
      }),
      { ...SETTINGS, tokenSafetyMarginMs: 5 * 60_000 },
      NOW,
    );
    assert.deepEqual(report.problems, []);
  });

  void it("an immutable pull secret (SecretImmutable on that very uid) is a problem; one on an older uid is not", () => {
    const parts = {
      namespaces: [ns("team-a", [A])],
      pullSecrets: [pull("team-a", A)],
      credentialSecrets: new Map([credential(A)]),
    };
    const now = summarize(
      snapshot({ ...parts, events: [event("SecretImmutable", A, "team-a", NOW - 60_000, "uid-team-a")] }),
      SETTINGS,
      NOW,
    );
    assert.deepEqual(reasons(now.problems), [["team-a", A, "immutable"]]);
    assert.match(now.problems[0]?.detail ?? "", /delete it and eatr recreates it at once/);
    const recreated = summarize(
      snapshot({ ...parts, events: [event("SecretImmutable", A, "team-a", NOW - 60_000, "uid-old")] }),
      SETTINGS,
      NOW,
    );
    assert.deepEqual(recreated.problems, []);
  });

  void it("a contested pull secret is a problem while another installation's write is on it", () => {
    const contested = event("SecretContested", A, "team-a", NOW - 60_000);
    const base = {
      namespaces: [ns("team-a", [A])],
      credentialSecrets: new Map([credential(A)]),
      events: [contested],
    };
    const other = pull("team-a", A, NOW + 11 * HOUR);
    const theirs = summarize(
      snapshot({
        ...base,
        pullSecrets: [{ ...other, annotations: { ...other.annotations, "eatr/installation": "eatr/eatr" } }],
      }),
      SETTINGS,
      NOW,
    );
    assert.deepEqual(reasons(theirs.problems), [["team-a", A, "contested"]]);
    assert.match(theirs.problems[0]?.detail ?? "", /another eatr installation \(eatr\/eatr\)/);
    const ours = summarize(snapshot({ ...base, pullSecrets: [other] }), SETTINGS, NOW);
    assert.deepEqual(ours.problems, []);
  });

  void it("sorts problems by namespace, then registry", () => {
    const report = summarize(
      snapshot({
        namespaces: [ns("z", [B, A]), ns("a", [B])],
        credentialSecrets: new Map([credential(A), credential(B)]),
      }),
      SETTINGS,
      NOW,
    );
    assert.deepEqual(reasons(report.problems), [
      ["a", B, "missing"],
      ["z", A, "missing"],
      ["z", B, "missing"],
    ]);
  });
});

void describe("summarize: credentials", () => {
  const asking = (extra: Partial<Parameters<typeof snapshot>[0]> = {}) =>
    snapshot({ namespaces: [ns("team-a", [A])], ...extra });

  void it("no credential secret and not declared: every asking namespace lacks credentials", () => {
    const report = summarize(asking({ pullSecrets: [pull("team-a", A, NOW + 3 * HOUR)] }), SETTINGS, NOW);
    const [r] = report.registries;
    assert.equal(r?.credentials.source, null);
    assert.equal(r.credentials.problem?.reason, "missing");
    assert.deepEqual(r.lackingCredentials, ["team-a"]);
    assert.deepEqual(r.served, ["team-a"], "its existing secret still serves");
    assert.deepEqual(reasons(report.problems), [["team-a", A, "credentials-missing"]]);
    assert.match(
      report.problems[0]?.detail ?? "",
      /^its pull secret is kept until it expires 2026-12-02T15:00:00Z \(in 3h\), not renewed: no credential secret ci-cd\/eatr-aws-credentials-\S+ and the registry is not declared/,
    );
    assert.equal(report.exitCode, 1);
  });

  void it("no pull secret yet and no credentials: one problem, credentials-missing", () => {
    const report = summarize(asking(), SETTINGS, NOW);
    assert.deepEqual(reasons(report.problems), [["team-a", A, "credentials-missing"]]);
    assert.match(report.problems[0]?.detail ?? "", /^no pull secret yet: no credential secret/);
  });

  const sources: {
    name: string;
    keys?: string[];
    webIdentity?: boolean;
    declared?: "keys" | "assumeRole" | "webIdentity" | "default";
    secret?: boolean;
    source: string | null;
    from: string | null;
    problem?: RegExp;
  }[] = [
    { name: "static keys", source: "keys", from: "secret" },
    {
      name: "keys and a session token",
      keys: ["aws_access_key_id", "aws_secret_access_key", "aws_session_token"],
      source: "keys",
      from: "secret",
    },
    {
      name: "a role alone: assumeRole on eatr's identity",
      keys: ["aws_role_arn"],
      source: "assumeRole",
      from: "secret",
    },
    {
      name: "keys and a role: assumeRole",
      keys: ["aws_access_key_id", "aws_role_arn", "aws_secret_access_key"],
      source: "assumeRole",
      from: "secret",
    },
    {
      name: "aws_web_identity true and a role: webIdentity",
      keys: ["aws_role_arn", "aws_web_identity"],
      webIdentity: true,
      source: "webIdentity",
      from: "secret",
    },
    {
      name: "aws_web_identity false and a role: assumeRole",
      keys: ["aws_role_arn", "aws_web_identity"],
      source: "assumeRole",
      from: "secret",
    },
    {
      name: "keys-only secret plus an assumeRole entry: assumeRole",
      declared: "assumeRole",
      source: "assumeRole",
      from: "secret+declared",
    },
    {
      name: "a secret wins over a webIdentity entry",
      declared: "webIdentity",
      source: "keys",
      from: "secret",
    },
    {
      name: "declared webIdentity, no secret",
      declared: "webIdentity",
      secret: false,
      source: "webIdentity",
      from: "declared",
    },
    {
      name: "declared default, no secret",
      declared: "default",
      secret: false,
      source: "default",
      from: "declared",
    },
    {
      name: "declared keys, no secret: missing",
      declared: "keys",
      secret: false,
      source: null,
      from: null,
      problem: /says source keys, which needs it/,
    },
    {
      name: "an access key without its secret key: invalid",
      keys: ["aws_access_key_id"],
      source: null,
      from: "secret",
      problem: /has no key aws_secret_access_key \(nor aws_role_arn/,
    },
    {
      name: "an empty secret: invalid",
      keys: [],
      source: null,
      from: "secret",
      problem: /has no key aws_access_key_id or aws_secret_access_key/,
    },
    {
      name: "a role with half a key pair: invalid",
      keys: ["aws_access_key_id", "aws_role_arn"],
      source: null,
      from: "secret",
      problem: /has no key aws_secret_access_key$/,
    },
    {
      name: "web identity without a role: invalid",
      keys: ["aws_web_identity"],
      webIdentity: true,
      source: null,
      from: "secret",
      problem: /sets aws_web_identity but has no key aws_role_arn/,
    },
    {
      name: "web identity with keys: invalid",
      keys: ["aws_access_key_id", "aws_role_arn", "aws_secret_access_key", "aws_web_identity"],
      webIdentity: true,
      source: null,
      from: "secret",
      problem: /so its keys are not used/,
    },
  ];
  for (const c of sources) {
    void it(`source: ${c.name}`, () => {
      const settings = {
        ...SETTINGS,
        registries:
          c.declared === undefined
            ? []
            : [
                {
                  host: A,
                  source: c.declared,
                  ...(c.declared === "assumeRole" || c.declared === "webIdentity"
                    ? { roleArn: "arn:aws:iam::123456789012:role/r" }
                    : {}),
                },
              ],
      };
      const credentialSecrets =
        c.secret === false
          ? new Map()
          : new Map([credential(A, c.keys, { webIdentity: c.webIdentity === true })]);
      const report = summarize(
        asking({ credentialSecrets, pullSecrets: [pull("team-a", A)] }),
        settings,
        NOW,
      );
      const creds = report.registries[0]?.credentials;
      assert.equal(creds?.source, c.source);
      assert.equal(creds.from, c.from);
      if (c.problem === undefined) {
        assert.equal(creds.problem, null);
        assert.deepEqual(report.problems, []);
      } else {
        assert.match(creds.problem?.detail ?? "", c.problem);
        assert.deepEqual(reasons(report.problems), [
          ["team-a", A, `credentials-${creds.problem?.reason ?? ""}`],
        ]);
      }
    });
  }

  void it("a declared registry nobody asks for is listed, without problems", () => {
    const report = summarize(snapshot(), { ...SETTINGS, registries: [{ host: B, source: "default" }] }, NOW);
    assert.equal(report.registries[0]?.registry, B);
    assert.deepEqual(report.registries[0]?.asking, []);
    assert.equal(report.exitCode, 0);
  });

  const changed = NOW - 2 * HOUR;
  const fetched = NOW - HOUR; // fixtures' eatr/token-fetched-at
  const eventCases: { name: string; reason: string; atMs: number; problem: "invalid" | "failed" | null }[] = [
    {
      name: "InvalidCredentials after the secret changed",
      reason: "InvalidCredentials",
      atMs: changed + 5000,
      problem: "invalid",
    },
    {
      name: "InvalidCredentials in the second it changed",
      reason: "InvalidCredentials",
      atMs: changed,
      problem: "invalid",
    },
    {
      name: "InvalidCredentials before the secret changed (fixed since)",
      reason: "InvalidCredentials",
      atMs: changed - 1000,
      problem: null,
    },
    {
      name: "TokenRequestFailed after the newest token",
      reason: "TokenRequestFailed",
      atMs: fetched + 1000,
      problem: "failed",
    },
    {
      name: "TokenRequestFailed in the second of the newest token",
      reason: "TokenRequestFailed",
      atMs: fetched,
      problem: null,
    },
    {
      name: "TokenRequestFailed before the newest token (renewed since)",
      reason: "TokenRequestFailed",
      atMs: fetched - 60_000,
      problem: null,
    },
  ];
  for (const c of eventCases) {
    void it(`events: ${c.name}`, () => {
      const report = summarize(
        asking({
          credentialSecrets: new Map([credential(A, undefined, { changedAtMs: changed + 300 })]),
          pullSecrets: [pull("team-a", A)],
          events: [
            event(c.reason, credName(A), HOST_NS, c.atMs),
            // The same reason about another registry's secret, or in another namespace, never counts.
            event(c.reason, credName(B), HOST_NS, NOW),
            event(c.reason, credName(A), "elsewhere", NOW),
          ],
        }),
        SETTINGS,
        NOW,
      );
      const creds = report.registries[0]?.credentials;
      assert.ok(creds);
      assert.equal(creds.problem?.reason ?? null, c.problem);
      if (c.problem !== null) {
        assert.equal(creds.source, "keys", "the source is still known");
        assert.match(
          creds.problem?.detail ?? "",
          new RegExp(`^${c.reason} Event \\(\\S+Z\\): ${c.reason} happened\\.$`),
        );
        assert.deepEqual(reasons(report.problems), [["team-a", A, `credentials-${c.problem}`]]);
      } else assert.deepEqual(report.problems, []);
    });
  }
});

void describe("summarize: leader", () => {
  void it("reads the holder, renew time and expiry from the Lease", () => {
    const live = summarize(snapshot(), SETTINGS, NOW).leader;
    assert.deepEqual(live, {
      lease: "ci-cd/eatr",
      holder: "eatr-abc",
      renewTimeMs: NOW - 2000,
      leaseDurationSeconds: 15,
      expired: false,
    });
    const stale = summarize(
      snapshot({
        lease: {
          namespace: "ci-cd",
          name: "eatr",
          holder: "eatr-abc",
          renewTimeMs: NOW - 16_000,
          leaseDurationSeconds: 15,
        },
      }),
      SETTINGS,
      NOW,
    ).leader;
    assert.equal(stale?.expired, true);
    const released = summarize(
      snapshot({
        lease: { namespace: "ci-cd", name: "eatr", holder: "", renewTimeMs: NOW, leaseDurationSeconds: 1 },
      }),
      SETTINGS,
      NOW,
    ).leader;
    assert.equal(released?.holder, null);
  });

  void it("tells a missing Lease from leader election being off; neither changes the exit code", () => {
    const missing = summarize(snapshot({ lease: undefined }), SETTINGS, NOW);
    assert.equal(missing.leader, undefined);
    assert.equal(missing.exitCode, 0);
    assert.equal(summarize(snapshot({ lease: null }), SETTINGS, NOW).leader, null);
  });
});
