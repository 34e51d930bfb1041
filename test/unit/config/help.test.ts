import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { describeOptions, helpText, loadConfig, redactedConfig } from "../../../src/config/index.ts";

/** The lines describing one flag: its "  -flag type" line and the indented lines under it. */
function helpFor(flag: string): string {
  const lines = helpText().split("\n");
  const start = lines.findIndex((line) => line.startsWith(`  -${flag} `));
  assert.notEqual(start, -1, `no help for -${flag}`);
  const end = lines.findIndex((line, i) => i > start && !line.startsWith("        "));
  return lines.slice(start, end).join("\n");
}

void describe("helpText", () => {
  const original: [string, string][] = [
    ["auth-token-renewal-interval", "default 6h;"],
    ["aws-credentials-secret-prefix", 'default "eatr-aws-credentials";'],
    ["host-namespace", 'default "ci-cd";'],
    ["informers-resync-interval", "default 5m;"],
    ["config-file-path", 'default "";'],
    ["logging-verbosity-level", "default 0;"],
    ["port", "default 5000;"],
    ["shutdown-grace-period", "default 3s;"],
  ];
  for (const [flag, shownDefault] of original) {
    void it(`shows the original flag -${flag} with its default`, () => {
      assert.ok(helpFor(flag).includes(shownDefault), helpFor(flag));
    });
  }

  void it("shows the boolean -leader-elect without a value type, with both spellings", () => {
    assert.equal(
      helpFor("leader-elect"),
      [
        "  -leader-elect (or -leader-elect=false)",
        "        Only the replica holding the leader election Lease works; the others stand by to take over.",
        "        default true; env EATR_LEADER_ELECT; file key leaderElect",
      ].join("\n"),
    );
  });

  void it("shows the leader election durations with their defaults", () => {
    assert.ok(
      helpFor("leader-election-lease-duration").startsWith("  -leader-election-lease-duration duration\n"),
    );
    assert.ok(helpFor("leader-election-lease-duration").includes("default 15s;"));
    assert.ok(helpFor("leader-election-renew-deadline").includes("default 10s;"));
    assert.ok(helpFor("leader-election-retry-period").includes("default 2s;"));
    assert.ok(helpFor("leader-election-namespace").includes('default "";'));
  });

  void it("shows the env vars of -config-file-path, KUBECONFIG included", () => {
    assert.ok(
      helpFor("config-file-path").includes("env EATR_KUBECONFIG (or KUBECONFIG); file key kubeconfig"),
    );
  });

  void it("describes every option, with its env var, file key and doc", () => {
    for (const option of describeOptions()) {
      const block = helpFor(option.flag);
      assert.ok(block.includes(`env ${option.env}`), block);
      assert.ok(block.includes(option.doc), block);
      if (option.key !== "configFile") assert.ok(block.includes(`file key ${option.key}`), block);
    }
  });

  const mentions: [string, string][] = [
    ["the usage line", "Usage: eatr [flags]"],
    ["that two dashes work too", "--flag works the same as -flag"],
    ["both value forms", "-flag value or -flag=value"],
    ["help", "  -h, -help"],
    ["version", "  -version"],
    ["precedence", "Precedence: flags > environment variables > config file > defaults."],
    ["the config file formats", "a JSON (.json) or YAML (.yaml, .yml) mapping"],
    ["unknown keys", "An unknown key is an error."],
    ["duration syntax", "e.g. 300ms, 20s, 1h30m, 1.5h"],
    ["boolean flag syntax", "Boolean flags are set by -flag alone or -flag=true|false (not -flag false"],
    ["the leader election timing rule", "lease-duration > renew-deadline > 1.2 × retry-period"],
  ];
  for (const [what, text] of mentions) {
    void it(`mentions ${what}`, () => {
      assert.ok(helpText().includes(text));
    });
  }

  void it("is what --help returns", () => {
    assert.deepEqual(loadConfig({ argv: ["--help"], env: {} }), { kind: "help", text: helpText() });
  });
});

void describe("describeOptions", () => {
  void it("lists every option once, with the config file option last", () => {
    const rows = describeOptions();
    assert.deepEqual(
      rows.map((row) => [row.key, row.flag, row.env, row.default]),
      [
        ["authTokenRenewalInterval", "auth-token-renewal-interval", "EATR_AUTH_TOKEN_RENEWAL_INTERVAL", "6h"],
        ["tokenSafetyMargin", "token-safety-margin", "EATR_TOKEN_SAFETY_MARGIN", "1h"],
        [
          "awsCredentialsSecretPrefix",
          "aws-credentials-secret-prefix",
          "EATR_AWS_CREDENTIALS_SECRET_PREFIX",
          "eatr-aws-credentials",
        ],
        ["hostNamespace", "host-namespace", "EATR_HOST_NAMESPACE", "ci-cd"],
        ["informersResyncInterval", "informers-resync-interval", "EATR_INFORMERS_RESYNC_INTERVAL", "5m"],
        ["kubeconfig", "config-file-path", "EATR_KUBECONFIG", ""],
        ["loggingVerbosityLevel", "logging-verbosity-level", "EATR_LOGGING_VERBOSITY_LEVEL", "0"],
        ["port", "port", "EATR_PORT", "5000"],
        ["shutdownGracePeriod", "shutdown-grace-period", "EATR_SHUTDOWN_GRACE_PERIOD", "3s"],
        ["ecrEndpoint", "ecr-endpoint", "EATR_ECR_ENDPOINT", ""],
        ["ecrPublicEndpoint", "ecr-public-endpoint", "EATR_ECR_PUBLIC_ENDPOINT", ""],
        ["stsEndpoint", "sts-endpoint", "EATR_STS_ENDPOINT", ""],
        ["webIdentityTokenFile", "web-identity-token-file", "EATR_WEB_IDENTITY_TOKEN_FILE", ""],
        ["workers", "workers", "EATR_WORKERS", "4"],
        ["kubeApiQps", "kube-api-qps", "EATR_KUBE_API_QPS", "200"],
        ["kubeApiBurst", "kube-api-burst", "EATR_KUBE_API_BURST", "1000"],
        ["leaderElect", "leader-elect", "EATR_LEADER_ELECT", "true"],
        ["leaderElectionId", "leader-election-id", "EATR_LEADER_ELECTION_ID", "eatr"],
        ["leaderElectionNamespace", "leader-election-namespace", "EATR_LEADER_ELECTION_NAMESPACE", ""],
        [
          "leaderElectionLeaseDuration",
          "leader-election-lease-duration",
          "EATR_LEADER_ELECTION_LEASE_DURATION",
          "15s",
        ],
        [
          "leaderElectionRenewDeadline",
          "leader-election-renew-deadline",
          "EATR_LEADER_ELECTION_RENEW_DEADLINE",
          "10s",
        ],
        [
          "leaderElectionRetryPeriod",
          "leader-election-retry-period",
          "EATR_LEADER_ELECTION_RETRY_PERIOD",
          "2s",
        ],
        ["manageServiceAccounts", "manage-service-accounts", "EATR_MANAGE_SERVICE_ACCOUNTS", "false"],
        ["serviceAccounts", "service-accounts", "EATR_SERVICE_ACCOUNTS", ""],
        [
          "restrictToDeclaredRegistries",
          "restrict-to-declared-registries",
          "EATR_RESTRICT_TO_DECLARED_REGISTRIES",
          "false",
        ],
        ["configFile", "config", "EATR_CONFIG_FILE", ""],
      ],
    );
    assert.equal(rows.find((row) => row.key === "kubeconfig")?.envFallback, "KUBECONFIG");
    for (const row of rows) assert.ok(row.doc.length > 0, row.key);
  });
});

void describe("redactedConfig", () => {
  void it("shows every setting by its file key, durations in Go syntax, the Lease's namespace resolved", () => {
    const result = loadConfig({ argv: ["-config-file-path=/kube/config"], env: {} });
    assert.equal(result.kind, "run");
    assert.deepEqual(redactedConfig(result.config), {
      authTokenRenewalInterval: "6h",
      tokenSafetyMargin: "1h",
      awsCredentialsSecretPrefix: "eatr-aws-credentials",
      hostNamespace: "ci-cd",
      informersResyncInterval: "5m",
      kubeconfig: "/kube/config",
      loggingVerbosityLevel: 0,
      port: 5000,
      shutdownGracePeriod: "3s",
      ecrEndpoint: "",
      ecrPublicEndpoint: "",
      stsEndpoint: "",
      webIdentityTokenFile: "",
      workers: 4,
      kubeApiQps: 200,
      kubeApiBurst: 1000,
      leaderElect: true,
      leaderElectionId: "eatr",
      leaderElectionNamespace: "ci-cd",
      leaderElectionLeaseDuration: "15s",
      leaderElectionRenewDeadline: "10s",
      leaderElectionRetryPeriod: "2s",
      manageServiceAccounts: false,
      serviceAccounts: "",
      restrictToDeclaredRegistries: false,
      logLevel: "info",
      configFile: "",
    });
  });
});
