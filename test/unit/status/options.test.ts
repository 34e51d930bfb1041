import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { ConfigError } from "../../../src/config/index.ts";
import { OPTION_SPECS } from "../../../src/config/schema.ts";
import { STATUS_OPTION_KEYS, statusHelpText } from "../../../src/status/help.ts";
import type { ProblemReason } from "../../../src/status/summary.ts";
import { parseStatusArgs } from "../../../src/status/options.ts";

const run = (argv: string[], env: Record<string, string> = {}, files: Record<string, string> = {}) => {
  const parsed = parseStatusArgs({
    argv,
    env,
    readFile: (path) => {
      const text = files[path];
      if (text === undefined) throw new Error(`ENOENT: ${path}`);
      return text;
    },
  });
  assert.equal(parsed.kind, "run");
  return parsed;
};

const problems = (argv: string[], env: Record<string, string> = {}): readonly string[] => {
  try {
    parseStatusArgs({ argv, env });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail("expected a ConfigError");
};

void describe("parseStatusArgs", () => {
  void it("defaults: table, the controller's defaults", () => {
    const parsed = run([]);
    assert.equal(parsed.output, "table");
    assert.equal(parsed.config.hostNamespace, "ci-cd");
    assert.equal(parsed.config.tokenSafetyMarginMs, 3_600_000);
    assert.equal(parsed.config.leaderElectionNamespace, "ci-cd");
    assert.equal(parsed.config.leaderElectionId, "eatr");
  });

  for (const argv of [["-o", "json"], ["-o=json"], ["--output", "json"], ["-output=json"], ["--o", "json"]]) {
    void it(`reads ${argv.join(" ")}`, () => {
      assert.equal(run(argv).output, "json");
    });
  }

  void it("takes the controller's flags, env vars and config file for what it looks at", () => {
    const parsed = run(
      ["-host-namespace", "eatr", "-token-safety-margin=30m", "-config", "/etc/eatr.yaml", "-o", "json"],
      { EATR_AWS_CREDENTIALS_SECRET_PREFIX: "creds", POD_NAMESPACE: "eatr-system", KUBECONFIG: "/kc" },
      {
        "/etc/eatr.yaml":
          "leaderElectionId: eatr-prod\nregistries:\n  - host: 123456789012.dkr.ecr.eu-west-1.amazonaws.com\n    source: default\n",
      },
    );
    assert.equal(parsed.config.hostNamespace, "eatr");
    assert.equal(parsed.config.tokenSafetyMarginMs, 30 * 60_000);
    assert.equal(parsed.config.awsCredentialsSecretPrefix, "creds");
    assert.equal(parsed.config.leaderElectionNamespace, "eatr-system", "POD_NAMESPACE, as the controller");
    assert.equal(parsed.config.leaderElectionId, "eatr-prod");
    assert.equal(parsed.config.kubeconfig, "/kc");
    assert.deepEqual(parsed.config.registries, [
      { host: "123456789012.dkr.ecr.eu-west-1.amazonaws.com", source: "default" },
    ]);
  });

  void it("refuses what status has no use for, an unknown format and a missing value, all at once", () => {
    assert.deepEqual(problems(["-o", "yaml", "-port", "5000", "extra", "--output"]), [
      'o (flag -o) = "yaml": expected table or json',
      "flag --output needs a value: table or json",
      "unknown flag -port (see eatr status --help)",
      'unexpected argument "extra": eatr status takes only flags',
    ]);
  });

  void it("reports a bad value of a controller option as the controller does", () => {
    assert.deepEqual(problems(["-token-safety-margin", "13h"]).length, 1);
    assert.match(
      problems(["-token-safety-margin", "13h"])[0] ?? "",
      /^token-safety-margin \(flag -token-safety-margin\) = "13h": expected/,
    );
  });

  void it("--help wins, even next to bad flags", () => {
    const parsed = parseStatusArgs({ argv: ["-port", "1", "--help"], env: {} });
    assert.deepEqual(parsed, { kind: "help", text: statusHelpText() });
  });
});

void describe("statusHelpText", () => {
  void it("lists -o and every option status reads, from the controller's option table", () => {
    const help = statusHelpText();
    assert.match(help, /^Usage: eatr status \[flags\]\n/);
    for (const flag of [
      "-o table|json",
      "-config-file-path string",
      "-host-namespace string",
      "-aws-credentials-secret-prefix string",
      "-token-safety-margin duration",
      "-leader-election-id string",
      "-leader-election-namespace string",
      "-config path",
      "-h, -help",
    ])
      assert.ok(help.includes(`\n  ${flag}\n`), flag);
    assert.match(help, /default 1h; env EATR_TOKEN_SAFETY_MARGIN; file key tokenSafetyMargin/);
    assert.match(help, /Exit codes: 0 healthy; 1 /);
  });
});

void describe("README's eatr status section", () => {
  const readme = readFileSync(new URL("../../../README.md", import.meta.url), "utf8");
  const start = readme.indexOf("### `eatr status`");
  const section = readme.slice(start, readme.indexOf("\n## ", start));

  void it("exists and names every option --help lists, the exit codes and every problem reason", () => {
    assert.notEqual(start, -1);
    for (const key of STATUS_OPTION_KEYS) assert.ok(section.includes(`\`-${OPTION_SPECS[key].flag}`), key);
    for (const text of ["`-o json`", "`-config`", "`0` healthy", "`1` when", "`2` for"])
      assert.ok(section.includes(text), text);
    for (const reason of [
      "missing",
      "conflict",
      "expired",
      "expiring",
      "immutable",
      "contested",
      "credentials-missing",
      "credentials-invalid",
      "credentials-failed",
    ] satisfies ProblemReason[])
      assert.ok(section.includes(`\`${reason}\``), reason);
  });
});
