import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, loadConfig, type Config, type LoadConfigOptions } from "../../../src/config/index.ts";

type Env = Record<string, string>;

/** A readFile over an in-memory set of files; any other path fails like a missing file. */
function files(contents: Record<string, string>): (path: string) => string {
  return (path) => {
    const text = contents[path];
    if (text === undefined) throw new Error(`ENOENT: no such file or directory, open '${path}'`);
    return text;
  };
}

function load(options: Partial<LoadConfigOptions>): Config {
  const result = loadConfig({ argv: [], env: {}, readFile: files({}), ...options });
  assert.equal(result.kind, "run");
  return result.config;
}

/** The ConfigError message loadConfig throws for these inputs. */
function failure(options: Partial<LoadConfigOptions>): string {
  try {
    loadConfig({ argv: [], env: {}, readFile: files({}), ...options });
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    assert.equal(error.exitCode, 2);
    return error.message;
  }
  assert.fail("loadConfig did not throw");
}

const DEFAULTS: Config = {
  authTokenRenewalIntervalMs: 6 * 3_600_000,
  tokenSafetyMarginMs: 3_600_000,
  awsCredentialsSecretPrefix: "eatr-aws-credentials",
  hostNamespace: "ci-cd",
  informersResyncIntervalMs: 300_000,
  kubeconfig: "",
  loggingVerbosityLevel: 0,
  logLevel: "info",
  port: 5000,
  shutdownGracePeriodMs: 3000,
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
  leaderElectionLeaseDurationMs: 15_000,
  leaderElectionRenewDeadlineMs: 10_000,
  leaderElectionRetryPeriodMs: 2000,
  manageServiceAccounts: false,
  serviceAccounts: "",
  restrictToDeclaredRegistries: false,
  configFile: "",
  registries: [],
};

void describe("loadConfig", () => {
  void it("uses the original eatr's defaults when nothing is given", () => {
    assert.deepEqual(load({}), DEFAULTS);
  });

  void it("returns a frozen Config", () => {
    const config = load({});
    assert.ok(Object.isFrozen(config));
    assert.throws(() => {
      (config as { port: number }).port = 1;
    }, TypeError);
  });

  void it("never reads process.env or process.argv", () => {
    const saved = process.env.EATR_PORT;
    process.env.EATR_PORT = "not a port";
    try {
      assert.equal(load({}).port, 5000);
    } finally {
      if (saved === undefined) delete process.env.EATR_PORT;
      else process.env.EATR_PORT = saved;
    }
  });

  void describe("reads every option from flags, env vars and files", () => {
    const table: [string, string, string, string, Partial<Config>][] = [
      [
        "auth-token-renewal-interval",
        "EATR_AUTH_TOKEN_RENEWAL_INTERVAL",
        "authTokenRenewalInterval",
        "1h30m",
        { authTokenRenewalIntervalMs: 5_400_000 },
      ],
      [
        "token-safety-margin",
        "EATR_TOKEN_SAFETY_MARGIN",
        "tokenSafetyMargin",
        "0",
        { tokenSafetyMarginMs: 0 },
      ],
      [
        "aws-credentials-secret-prefix",
        "EATR_AWS_CREDENTIALS_SECRET_PREFIX",
        "awsCredentialsSecretPrefix",
        "creds",
        { awsCredentialsSecretPrefix: "creds" },
      ],
      [
        "host-namespace",
        "EATR_HOST_NAMESPACE",
        "hostNamespace",
        "kube-system",
        { hostNamespace: "kube-system", leaderElectionNamespace: "kube-system" },
      ],
      [
        "informers-resync-interval",
        "EATR_INFORMERS_RESYNC_INTERVAL",
        "informersResyncInterval",
        "0",
        { informersResyncIntervalMs: 0 },
      ],
      [
        "config-file-path",
        "EATR_KUBECONFIG",
        "kubeconfig",
        "/home/me/.kube/config",
        { kubeconfig: "/home/me/.kube/config" },
      ],
      [
        "logging-verbosity-level",
        "EATR_LOGGING_VERBOSITY_LEVEL",
        "loggingVerbosityLevel",
        "6",
        { loggingVerbosityLevel: 6, logLevel: "debug" },
      ],
      ["port", "EATR_PORT", "port", "0", { port: 0 }],
      [
        "shutdown-grace-period",
        "EATR_SHUTDOWN_GRACE_PERIOD",
        "shutdownGracePeriod",
        "1.5s",
        { shutdownGracePeriodMs: 1500 },
      ],
      [
        "ecr-endpoint",
        "EATR_ECR_ENDPOINT",
        "ecrEndpoint",
        "http://localhost:4566",
        { ecrEndpoint: "http://localhost:4566" },
      ],
      [
        "ecr-public-endpoint",
        "EATR_ECR_PUBLIC_ENDPOINT",
        "ecrPublicEndpoint",
        "http://localhost:4568",
        { ecrPublicEndpoint: "http://localhost:4568" },
      ],
      [
        "sts-endpoint",
        "EATR_STS_ENDPOINT",
        "stsEndpoint",
        "http://localhost:4567",
        { stsEndpoint: "http://localhost:4567" },
      ],
      [
        "web-identity-token-file",
        "EATR_WEB_IDENTITY_TOKEN_FILE",
        "webIdentityTokenFile",
        "/var/run/secrets/eatr/token",
        { webIdentityTokenFile: "/var/run/secrets/eatr/token" },
      ],
      ["workers", "EATR_WORKERS", "workers", "64", { workers: 64 }],
      ["kube-api-qps", "EATR_KUBE_API_QPS", "kubeApiQps", "2.5", { kubeApiQps: 2.5 }],
      ["kube-api-burst", "EATR_KUBE_API_BURST", "kubeApiBurst", "1", { kubeApiBurst: 1 }],
      [
        "leader-election-id",
        "EATR_LEADER_ELECTION_ID",
        "leaderElectionId",
        "eatr.example.com",
        { leaderElectionId: "eatr.example.com" },
      ],
      [
        "leader-election-namespace",
        "EATR_LEADER_ELECTION_NAMESPACE",
        "leaderElectionNamespace",
        "kube-system",
        { leaderElectionNamespace: "kube-system" },
      ],
      [
        "leader-election-lease-duration",
        "EATR_LEADER_ELECTION_LEASE_DURATION",
        "leaderElectionLeaseDuration",
        "1m",
        { leaderElectionLeaseDurationMs: 60_000 },
      ],
      [
        "leader-election-renew-deadline",
        "EATR_LEADER_ELECTION_RENEW_DEADLINE",
        "leaderElectionRenewDeadline",
        "12.5s",
        { leaderElectionRenewDeadlineMs: 12_500 },
      ],
      [
        "leader-election-retry-period",
        "EATR_LEADER_ELECTION_RETRY_PERIOD",
        "leaderElectionRetryPeriod",
        "500ms",
        { leaderElectionRetryPeriodMs: 500 },
      ],
      [
        "service-accounts",
        "EATR_SERVICE_ACCOUNTS",
        "serviceAccounts",
        "default,builder",
        // A cluster-wide selection turns the feature on by itself.
        { manageServiceAccounts: true, serviceAccounts: "default,builder" },
      ],
    ];
    for (const [flag, env, key, text, expected] of table) {
      void it(`-${flag} / ${env} / ${key} = ${text}`, () => {
        const fromFlag = load({ argv: [`-${flag}`, text] });
        const fromEnv = load({ env: { [env]: text } });
        const fromFile = load({
          env: { EATR_CONFIG_FILE: "/etc/eatr.json" },
          readFile: files({ "/etc/eatr.json": JSON.stringify({ [key]: text }) }),
        });
        assert.deepEqual(fromFlag, { ...DEFAULTS, ...expected });
        assert.deepEqual(fromEnv, { ...DEFAULTS, ...expected });
        assert.deepEqual(fromFile, { ...DEFAULTS, ...expected, configFile: "/etc/eatr.json" });
      });
    }
  });

  void describe("flag forms", () => {
    const forms: string[][] = [["-port", "6000"], ["-port=6000"], ["--port", "6000"], ["--port=6000"]];
    for (const argv of forms) {
      void it(`accepts ${argv.join(" ")}`, () => {
        assert.equal(load({ argv }).port, 6000);
      });
    }
  });

  void describe("precedence: flags > env > file > defaults", () => {
    const file = { "/c.yaml": "port: 1111\nworkers: 3\nhostNamespace: from-file\n" };
    const env: Env = { EATR_CONFIG_FILE: "/c.yaml", EATR_PORT: "2222", EATR_WORKERS: "5" };
    const table: [string, Partial<LoadConfigOptions>, Partial<Config>][] = [
      ["defaults alone", {}, { port: 5000, workers: 4, hostNamespace: "ci-cd" }],
      [
        "file over defaults",
        { env: { EATR_CONFIG_FILE: "/c.yaml" }, readFile: files(file) },
        { port: 1111, workers: 3, hostNamespace: "from-file" },
      ],
      [
        "env over file",
        { env, readFile: files(file) },
        { port: 2222, workers: 5, hostNamespace: "from-file" },
      ],
      [
        "flag over env",
        { env, readFile: files(file), argv: ["--port", "3333"] },
        { port: 3333, workers: 5, hostNamespace: "from-file" },
      ],
    ];
    for (const [name, options, expected] of table) {
      void it(name, () => {
        const { port, workers, hostNamespace } = load(options);
        assert.deepEqual({ port, workers, hostNamespace }, expected);
      });
    }

    void it("--config wins over EATR_CONFIG_FILE", () => {
      const config = load({
        argv: ["-config", "/flag.json"],
        env: { EATR_CONFIG_FILE: "/env.json" },
        readFile: files({ "/flag.json": '{"port": 1}', "/env.json": '{"port": 2}' }),
      });
      assert.equal(config.port, 1);
      assert.equal(config.configFile, "/flag.json");
    });

    void it("an empty EATR_CONFIG_FILE means no file", () => {
      assert.deepEqual(load({ env: { EATR_CONFIG_FILE: "" } }), DEFAULTS);
    });
  });

  void describe("KUBECONFIG", () => {
    const table: [string, Env, string[], string][] = [
      ["plain KUBECONFIG is read", { KUBECONFIG: "/plain" }, [], "/plain"],
      ["EATR_KUBECONFIG wins", { KUBECONFIG: "/plain", EATR_KUBECONFIG: "/eatr" }, [], "/eatr"],
      [
        "an empty EATR_KUBECONFIG still wins (in-cluster)",
        { KUBECONFIG: "/plain", EATR_KUBECONFIG: "" },
        [],
        "",
      ],
      [
        "the flag wins over both",
        { KUBECONFIG: "/plain", EATR_KUBECONFIG: "/eatr" },
        ["-config-file-path=/flag"],
        "/flag",
      ],
      ["neither means in-cluster", {}, [], ""],
    ];
    for (const [name, env, argv, expected] of table) {
      void it(name, () => {
        assert.equal(load({ env, argv }).kubeconfig, expected);
      });
    }
  });

  void describe("config files", () => {
    const expected: Partial<Config> = {
      authTokenRenewalIntervalMs: 5_400_000,
      port: 8080,
      hostNamespace: "secrets",
      leaderElectionNamespace: "secrets",
      kubeApiQps: 2.5,
    };
    const table: [string, string][] = [
      [
        "/etc/eatr/config.json",
        '{"authTokenRenewalInterval": "1h30m", "port": 8080, "hostNamespace": "secrets", "kubeApiQps": 2.5}',
      ],
      [
        "/etc/eatr/config.yaml",
        "authTokenRenewalInterval: 1h30m\nport: 8080\nhostNamespace: secrets\nkubeApiQps: 2.5\n",
      ],
      [
        "/etc/eatr/config.yml",
        "# comment\nauthTokenRenewalInterval: '1h30m'\nport: '8080'\nhostNamespace: secrets\nkubeApiQps: 2.5\n",
      ],
    ];
    for (const [path, text] of table) {
      void it(`reads ${path}`, () => {
        const config = load({ argv: ["--config", path], readFile: files({ [path]: text }) });
        assert.deepEqual(config, { ...DEFAULTS, ...expected, configFile: path });
      });
    }

    void it("treats an empty YAML file as no settings", () => {
      const config = load({ argv: ["--config", "/e.yaml"], readFile: files({ "/e.yaml": "" }) });
      assert.deepEqual(config, { ...DEFAULTS, configFile: "/e.yaml" });
    });

    const broken: [string, string, string, string][] = [
      [
        "an unknown key",
        "/c.json",
        '{"port": 1, "bogus": 2}',
        'invalid configuration: config file /c.json: unknown key "bogus" (known keys: authTokenRenewalInterval, tokenSafetyMargin, awsCredentialsSecretPrefix, hostNamespace, informersResyncInterval, kubeconfig, loggingVerbosityLevel, port, shutdownGracePeriod, ecrEndpoint, ecrPublicEndpoint, stsEndpoint, webIdentityTokenFile, workers, kubeApiQps, kubeApiBurst, leaderElect, leaderElectionId, leaderElectionNamespace, leaderElectionLeaseDuration, leaderElectionRenewDeadline, leaderElectionRetryPeriod, manageServiceAccounts, serviceAccounts, restrictToDeclaredRegistries)',
      ],
      [
        "a __proto__ key",
        "/c.json",
        '{"__proto__": {"port": 1}}',
        'invalid configuration: config file /c.json: unknown key "__proto__" (known keys: authTokenRenewalInterval, tokenSafetyMargin, awsCredentialsSecretPrefix, hostNamespace, informersResyncInterval, kubeconfig, loggingVerbosityLevel, port, shutdownGracePeriod, ecrEndpoint, ecrPublicEndpoint, stsEndpoint, webIdentityTokenFile, workers, kubeApiQps, kubeApiBurst, leaderElect, leaderElectionId, leaderElectionNamespace, leaderElectionLeaseDuration, leaderElectionRenewDeadline, leaderElectionRetryPeriod, manageServiceAccounts, serviceAccounts, restrictToDeclaredRegistries)',
      ],
      [
        "a flag name used as a key",
        "/c.yaml",
        "host-namespace: x\n",
        'invalid configuration: config file /c.yaml: unknown key "host-namespace" (did you mean "hostNamespace"?)',
      ],
      [
        "the original kubeconfig flag name used as a key",
        "/c.yaml",
        "configFilePath: /k\n",
        'invalid configuration: config file /c.yaml: unknown key "configFilePath" (did you mean "kubeconfig"?)',
      ],
      [
        "a bad value",
        "/c.yaml",
        "port: 70000\n",
        'invalid configuration: port (file /c.yaml, key "port") = 70000: expected a port number from 0 to 65535',
      ],
      [
        "a number where a duration is expected",
        "/c.json",
        '{"shutdownGracePeriod": 3}',
        'invalid configuration: shutdown-grace-period (file /c.json, key "shutdownGracePeriod") = 3: expected a duration like 20s, 6h or 1h30m',
      ],
      [
        "a nested value",
        "/c.json",
        '{"port": {"value": 1}}',
        'invalid configuration: port (file /c.json, key "port") = {"value":1}: expected a port number from 0 to 65535',
      ],
      [
        "a null value",
        "/c.yaml",
        "ecrEndpoint:\n",
        'invalid configuration: ecr-endpoint (file /c.yaml, key "ecrEndpoint") = null: expected an http or https URL like https://api.ecr.eu-west-1.amazonaws.com, or empty',
      ],
      [
        "a boolean value",
        "/c.yaml",
        "workers: true\n",
        'invalid configuration: workers (file /c.yaml, key "workers") = true: expected an integer from 1 to 64',
      ],
      [
        "a list at the top level",
        "/c.yaml",
        "- port\n",
        "invalid configuration: config file /c.yaml (flag --config): expected a mapping of settings at the top level",
      ],
      [
        "invalid JSON",
        "/c.json",
        "{port: 1}",
        "invalid configuration: config file /c.json (flag --config): not valid JSON: Expected property name or '}' in JSON at position 1 (line 1 column 2)",
      ],
      [
        "a duplicate YAML key",
        "/c.yaml",
        "port: 1\nport: 2\n",
        "invalid configuration: config file /c.yaml (flag --config): not valid YAML: Map keys must be unique",
      ],
      [
        "an unsupported extension",
        "/c.toml",
        "port = 1\n",
        "invalid configuration: config file /c.toml (flag --config): expected a file name ending in .json, .yaml or .yml",
      ],
    ];
    for (const [name, path, text, message] of broken) {
      void it(`rejects ${name}`, () => {
        assert.equal(failure({ argv: ["--config", path], readFile: files({ [path]: text }) }), message);
      });
    }

    void it("rejects a missing file, naming where its path came from", () => {
      assert.equal(
        failure({ env: { EATR_CONFIG_FILE: "/missing.yaml" } }),
        "invalid configuration: config file /missing.yaml (env EATR_CONFIG_FILE): cannot be read: ENOENT: no such file or directory, open '/missing.yaml'",
      );
    });
  });

  void describe("invalid values", () => {
    const table: [string, Partial<LoadConfigOptions>, string][] = [
      [
        "a duration in words",
        { argv: ["--auth-token-renewal-interval", "6 hours"] },
        'auth-token-renewal-interval (flag --auth-token-renewal-interval) = "6 hours": expected a duration like 20s, 6h or 1h30m',
      ],
      [
        "a duration without a unit",
        { env: { EATR_AUTH_TOKEN_RENEWAL_INTERVAL: "6" } },
        'auth-token-renewal-interval (env EATR_AUTH_TOKEN_RENEWAL_INTERVAL) = "6": expected a duration like 20s, 6h or 1h30m',
      ],
      [
        "an empty duration",
        { argv: ["-token-safety-margin="] },
        'token-safety-margin (flag -token-safety-margin) = "": expected a duration like 20s, 6h or 1h30m',
      ],
      [
        "a zero renewal interval",
        { argv: ["-auth-token-renewal-interval=0"] },
        'auth-token-renewal-interval (flag -auth-token-renewal-interval) = "0": expected a duration of at least 20s, like 6h or 1h30m: each renewal is an ECR call (AWS throttles GetAuthorizationToken per account) and rewrites every pull secret of the registry',
      ],
      [
        "a negative grace period",
        { argv: ["-shutdown-grace-period", "-1s"] },
        'shutdown-grace-period (flag -shutdown-grace-period) = "-1s": expected a duration of 0 or more, like 0, 3s or 1h30m',
      ],
      [
        "a duration too long for a timer",
        { argv: ["-informers-resync-interval=1000h"] },
        'informers-resync-interval (flag -informers-resync-interval) = "1000h": expected a duration of at most 596h31m23s647ms',
      ],
      [
        "a port out of range",
        { env: { EATR_PORT: "70000" } },
        'port (env EATR_PORT) = "70000": expected a port number from 0 to 65535',
      ],
      [
        "a port that is not a number",
        { argv: ["--port=http"] },
        'port (flag --port) = "http": expected a port number from 0 to 65535',
      ],
      [
        "a port with trailing text",
        { argv: ["--port=5000abc"] },
        'port (flag --port) = "5000abc": expected a port number from 0 to 65535',
      ],
      [
        "a namespace with capitals",
        { env: { EATR_HOST_NAMESPACE: "CI-CD" } },
        `host-namespace (env EATR_HOST_NAMESPACE) = "CI-CD": expected a DNS-1123 label (at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit)`,
      ],
      [
        "a namespace that is too long",
        { argv: ["-host-namespace", "a".repeat(64)] },
        `host-namespace (flag -host-namespace) = "${"a".repeat(64)}": expected a DNS-1123 label (at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit)`,
      ],
      [
        "a secret prefix with an underscore",
        { argv: ["-aws-credentials-secret-prefix=aws_creds"] },
        `aws-credentials-secret-prefix (flag -aws-credentials-secret-prefix) = "aws_creds": expected a DNS-1123 subdomain (lowercase letters, digits, '-' or '.', starting and ending with a letter or digit) of at most 180 characters`,
      ],
      [
        "a URL that is not http",
        { env: { EATR_ECR_ENDPOINT: "ftp://ecr.example.com" } },
        'ecr-endpoint (env EATR_ECR_ENDPOINT) = "ftp://ecr.example.com": expected an http or https URL like https://api.ecr.eu-west-1.amazonaws.com, or empty',
      ],
      [
        "an ECR Public endpoint that is not a URL",
        { env: { EATR_ECR_PUBLIC_ENDPOINT: "api.ecr-public.us-east-1.amazonaws.com" } },
        'ecr-public-endpoint (env EATR_ECR_PUBLIC_ENDPOINT) = "api.ecr-public.us-east-1.amazonaws.com": expected an http or https URL like https://api.ecr.eu-west-1.amazonaws.com, or empty',
      ],
      [
        "a host name without a scheme",
        { argv: ["-ecr-endpoint", "ecr.example.com"] },
        'ecr-endpoint (flag -ecr-endpoint) = "ecr.example.com": expected an http or https URL like https://api.ecr.eu-west-1.amazonaws.com, or empty',
      ],
      [
        "a URL with credentials, without echoing them",
        { argv: ["-ecr-endpoint", "https://user:pw@ecr.example.com"] },
        'ecr-endpoint (flag -ecr-endpoint) = "https://[redacted]@ecr.example.com": expected a URL without a user name or password (it is logged at startup)',
      ],
      [
        "a URL with a presigned query string, without echoing it",
        {
          env: {
            EATR_ECR_ENDPOINT: "https://ecr.example.com/?X-Amz-Credential=AKIAX%2F1&X-Amz-Signature=abc&v=2",
          },
        },
        'ecr-endpoint (env EATR_ECR_ENDPOINT) = "https://ecr.example.com/?X-Amz-Credential=[redacted]&X-Amz-Signature=[redacted]&v=2": expected a URL without credentials in its query string (it is logged at startup)',
      ],
      [
        "a renewal interval below 20s",
        { argv: ["-auth-token-renewal-interval", "1ms"] },
        'auth-token-renewal-interval (flag -auth-token-renewal-interval) = "1ms": expected a duration of at least 20s, like 6h or 1h30m: each renewal is an ECR call (AWS throttles GetAuthorizationToken per account) and rewrites every pull secret of the registry',
      ],
      [
        "a renewal interval of 19.999s",
        { env: { EATR_AUTH_TOKEN_RENEWAL_INTERVAL: "19s999ms" } },
        'auth-token-renewal-interval (env EATR_AUTH_TOKEN_RENEWAL_INTERVAL) = "19s999ms": expected a duration of at least 20s, like 6h or 1h30m: each renewal is an ECR call (AWS throttles GetAuthorizationToken per account) and rewrites every pull secret of the registry',
      ],
      [
        "a safety margin as long as a token lives",
        { argv: ["-token-safety-margin=12h"] },
        'token-safety-margin (flag -token-safety-margin) = "12h": expected a duration shorter than 12h, like 1h or 90m: ECR tokens live 12h, so a longer margin makes every token due as soon as it is fetched (a refresh every 20s)',
      ],
      [
        "a safety margin longer than a token lives",
        { env: { EATR_TOKEN_SAFETY_MARGIN: "13h" } },
        'token-safety-margin (env EATR_TOKEN_SAFETY_MARGIN) = "13h": expected a duration shorter than 12h, like 1h or 90m: ECR tokens live 12h, so a longer margin makes every token due as soon as it is fetched (a refresh every 20s)',
      ],
      [
        "a verbosity above 10",
        { argv: ["-logging-verbosity-level=11"] },
        'logging-verbosity-level (flag -logging-verbosity-level) = "11": expected an integer from 0 to 10',
      ],
      [
        "zero workers",
        { env: { EATR_WORKERS: "0" } },
        'workers (env EATR_WORKERS) = "0": expected an integer from 1 to 64',
      ],
      [
        "a fractional worker count",
        { env: { EATR_WORKERS: "2.5" } },
        'workers (env EATR_WORKERS) = "2.5": expected an integer from 1 to 64',
      ],
      [
        "a zero QPS",
        { argv: ["-kube-api-qps=0"] },
        'kube-api-qps (flag -kube-api-qps) = "0": expected a number above 0, like 50 or 2.5',
      ],
      [
        "a zero burst",
        { argv: ["-kube-api-burst=0"] },
        'kube-api-burst (flag -kube-api-burst) = "0": expected an integer of at least 1',
      ],
      ["an unknown flag", { argv: ["--bogus", "1"] }, "unknown flag --bogus (see eatr --help)"],
      ["a flag without a value", { argv: ["-port"] }, "flag -port needs a value"],
      ["a positional argument", { argv: ["start"] }, 'unexpected argument "start": eatr takes only flags'],
      [
        "a positional URL with a password, without echoing it",
        { argv: ["https://admin:hunter2@proxy.example.com"] },
        'unexpected argument "https://[redacted]@proxy.example.com": eatr takes only flags',
      ],
    ];
    for (const [name, options, problem] of table) {
      void it(`rejects ${name}`, () => {
        assert.equal(failure(options), `invalid configuration: ${problem}`);
      });
    }
  });

  void it("refuses -restrict-to-declared-registries without declared registries (it would serve nothing)", () => {
    assert.match(
      failure({ argv: ["-restrict-to-declared-registries"] }),
      /restrict-to-declared-registries is on but no registry is declared: eatr would serve nothing\. List the registries under "registries"/,
    );
    const host = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
    const config = load({
      argv: ["-restrict-to-declared-registries", "--config", "/r.json"],
      readFile: files({ "/r.json": JSON.stringify({ registries: [{ host }] }) }),
    });
    assert.equal(config.restrictToDeclaredRegistries, true);
    assert.deepEqual(
      config.registries.map((r) => r.host),
      [host],
    );
  });

  void it("lists several problems in one message, one per line", () => {
    const message = failure({
      argv: ["--auth-token-renewal-interval", "6 hours", "-port=70000", "--bogus=1"],
      env: { EATR_HOST_NAMESPACE: "Bad_NS", EATR_CONFIG_FILE: "/c.yaml", EATR_WORKERS: "8" },
      readFile: files({ "/c.yaml": "workers: 0\nkubeApiQps: -1\nextra: 1\n" }),
    });
    assert.equal(
      message,
      [
        "invalid configuration (6 problems):",
        "  unknown flag --bogus (see eatr --help)",
        '  config file /c.yaml: unknown key "extra" (known keys: authTokenRenewalInterval, tokenSafetyMargin, awsCredentialsSecretPrefix, hostNamespace, informersResyncInterval, kubeconfig, loggingVerbosityLevel, port, shutdownGracePeriod, ecrEndpoint, ecrPublicEndpoint, stsEndpoint, webIdentityTokenFile, workers, kubeApiQps, kubeApiBurst, leaderElect, leaderElectionId, leaderElectionNamespace, leaderElectionLeaseDuration, leaderElectionRenewDeadline, leaderElectionRetryPeriod, manageServiceAccounts, serviceAccounts, restrictToDeclaredRegistries)',
        '  auth-token-renewal-interval (flag --auth-token-renewal-interval) = "6 hours": expected a duration like 20s, 6h or 1h30m',
        `  host-namespace (env EATR_HOST_NAMESPACE) = "Bad_NS": expected a DNS-1123 label (at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit)`,
        '  port (flag -port) = "70000": expected a port number from 0 to 65535',
        '  kube-api-qps (file /c.yaml, key "kubeApiQps") = -1: expected a number above 0, like 50 or 2.5',
      ].join("\n"),
    );
  });

  void it("exposes each problem on the error", () => {
    try {
      loadConfig({ argv: ["-port=x", "-workers=0"], env: {} });
      assert.fail("loadConfig did not throw");
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      assert.deepEqual(error.problems, [
        'port (flag -port) = "x": expected a port number from 0 to 65535',
        'workers (flag -workers) = "0": expected an integer from 1 to 64',
      ]);
    }
  });

  void describe("help and version", () => {
    const table: [string[], "help" | "version"][] = [
      [["-h"], "help"],
      [["-help"], "help"],
      [["--help"], "help"],
      [["--port=bad", "--help"], "help"],
      [["--version"], "version"],
      [["-version"], "version"],
    ];
    for (const [argv, kind] of table) {
      void it(`${argv.join(" ")} asks for ${kind}`, () => {
        const result = loadConfig({ argv, env: { EATR_PORT: "bad" }, version: "1.2.3" });
        assert.equal(result.kind, kind);
      });
    }

    void it("prints the version given", () => {
      assert.deepEqual(loadConfig({ argv: ["--version"], env: {}, version: "1.2.3" }), {
        kind: "version",
        text: "eatr 1.2.3\n",
      });
    });
  });
  void describe("leader election", () => {
    const elect: [string, Partial<LoadConfigOptions>, boolean][] = [
      ["the default", {}, true],
      ["-leader-elect", { argv: ["-leader-elect"] }, true],
      ["--leader-elect", { argv: ["--leader-elect"] }, true],
      ["-leader-elect=false", { argv: ["-leader-elect=false"] }, false],
      ["--leader-elect=true", { argv: ["--leader-elect=true"], env: { EATR_LEADER_ELECT: "false" } }, true],
      ["Go's -leader-elect=0", { argv: ["-leader-elect=0"] }, false],
      ["Go's -leader-elect=F", { argv: ["-leader-elect=F"] }, false],
      ["EATR_LEADER_ELECT=false", { env: { EATR_LEADER_ELECT: "false" } }, false],
      ["EATR_LEADER_ELECT=true", { env: { EATR_LEADER_ELECT: "true" } }, true],
      [
        "a flag before another flag",
        { argv: ["-leader-elect", "-port", "1"], env: { EATR_LEADER_ELECT: "false" } },
        true,
      ],
      [
        "a YAML boolean",
        { argv: ["--config", "/c.yaml"], readFile: files({ "/c.yaml": "leaderElect: false\n" }) },
        false,
      ],
      [
        "a YAML string",
        { argv: ["--config", "/c.yaml"], readFile: files({ "/c.yaml": "leaderElect: 'false'\n" }) },
        false,
      ],
      [
        "a JSON boolean",
        { argv: ["--config", "/c.json"], readFile: files({ "/c.json": '{"leaderElect": false}' }) },
        false,
      ],
    ];
    for (const [name, options, expected] of elect) {
      void it(`reads leaderElect from ${name}`, () => {
        assert.equal(load(options).leaderElect, expected);
      });
    }

    const namespaces: [string, Partial<LoadConfigOptions>, string][] = [
      ["host-namespace when nothing else is set", { argv: ["-host-namespace=ops"] }, "ops"],
      ["POD_NAMESPACE over host-namespace", { env: { POD_NAMESPACE: "eatr-system" } }, "eatr-system"],
      ["host-namespace when POD_NAMESPACE is empty", { env: { POD_NAMESPACE: "" } }, "ci-cd"],
      [
        "the option over POD_NAMESPACE",
        { argv: ["-leader-election-namespace", "leases"], env: { POD_NAMESPACE: "eatr-system" } },
        "leases",
      ],
      [
        "POD_NAMESPACE when the option is set empty",
        { env: { EATR_LEADER_ELECTION_NAMESPACE: "", POD_NAMESPACE: "eatr-system" } },
        "eatr-system",
      ],
    ];
    for (const [name, options, expected] of namespaces) {
      void it(`puts the Lease in ${name}`, () => {
        assert.equal(load(options).leaderElectionNamespace, expected);
      });
    }

    void it("accepts timings just inside the rule", () => {
      const config = load({
        argv: [
          "-leader-election-lease-duration=11s",
          "-leader-election-renew-deadline=10s",
          "-leader-election-retry-period=8.3s",
        ],
      });
      assert.deepEqual(
        [
          config.leaderElectionLeaseDurationMs,
          config.leaderElectionRenewDeadlineMs,
          config.leaderElectionRetryPeriodMs,
        ],
        [11_000, 10_000, 8300],
      );
    });

    const invalid: [string, Partial<LoadConfigOptions>, string][] = [
      [
        "-leader-elect false (Go would read it as -leader-elect and an argument)",
        { argv: ["-leader-elect", "false"] },
        "flag -leader-elect is a boolean: write -leader-elect=false, not -leader-elect false",
      ],
      [
        "--leader-elect followed by another argument",
        { argv: ["--leader-elect", "no"] },
        'unexpected argument "no": eatr takes only flags',
      ],
      [
        "a boolean flag with a word",
        { argv: ["-leader-elect=yes"] },
        'leader-elect (flag -leader-elect) = "yes": expected true or false',
      ],
      [
        "a boolean env var with a word",
        { env: { EATR_LEADER_ELECT: "on" } },
        'leader-elect (env EATR_LEADER_ELECT) = "on": expected true or false',
      ],
      [
        "an empty boolean env var",
        { env: { EATR_LEADER_ELECT: "" } },
        'leader-elect (env EATR_LEADER_ELECT) = "": expected true or false',
      ],
      [
        "a lease name with capitals",
        { argv: ["-leader-election-id", "Eatr"] },
        `leader-election-id (flag -leader-election-id) = "Eatr": expected a DNS-1123 subdomain (at most 253 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit)`,
      ],
      [
        "an empty lease name",
        { env: { EATR_LEADER_ELECTION_ID: "" } },
        `leader-election-id (env EATR_LEADER_ELECTION_ID) = "": expected a DNS-1123 subdomain (at most 253 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit)`,
      ],
      [
        "a lease namespace with a dot",
        { argv: ["-leader-election-namespace=a.b"] },
        `leader-election-namespace (flag -leader-election-namespace) = "a.b": expected a DNS-1123 label (at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit), or empty`,
      ],
      [
        "an invalid POD_NAMESPACE when it is used",
        { env: { POD_NAMESPACE: "Not_A_Namespace" } },
        `POD_NAMESPACE (env POD_NAMESPACE) = "Not_A_Namespace": expected a DNS-1123 label (at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit)`,
      ],
      [
        "a lease duration in part seconds",
        { argv: ["-leader-election-lease-duration=15500ms"] },
        'leader-election-lease-duration (flag -leader-election-lease-duration) = "15500ms": expected a whole number of seconds above 0, like 15s or 1m',
      ],
      [
        "a zero retry period",
        { argv: ["-leader-election-retry-period=0"] },
        'leader-election-retry-period (flag -leader-election-retry-period) = "0": expected a duration above 0, like 20s, 6h or 1h30m',
      ],
      [
        "a lease duration not above the renew deadline",
        { argv: ["-leader-election-lease-duration", "10s"] },
        "leader election timings: expected leader-election-lease-duration > leader-election-renew-deadline > 1.2 × leader-election-retry-period, got 10s (flag -leader-election-lease-duration) > 10s (default) > 1.2 × 2s (default) = 2s400ms",
      ],
      [
        "a renew deadline not above 1.2 × the retry period",
        {
          env: { EATR_LEADER_ELECTION_RETRY_PERIOD: "9s", EATR_CONFIG_FILE: "/c.yaml" },
          readFile: files({ "/c.yaml": "leaderElectionRenewDeadline: 10s\n" }),
        },
        'leader election timings: expected leader-election-lease-duration > leader-election-renew-deadline > 1.2 × leader-election-retry-period, got 15s (default) > 10s (file /c.yaml, key "leaderElectionRenewDeadline") > 1.2 × 9s (env EATR_LEADER_ELECTION_RETRY_PERIOD) = 10s800ms',
      ],
    ];
    for (const [name, options, problem] of invalid) {
      void it(`rejects ${name}`, () => {
        assert.equal(failure(options), `invalid configuration: ${problem}`);
      });
    }

    void it("checks the timings even with leader election off", () => {
      assert.match(
        failure({ argv: ["-leader-elect=false", "-leader-election-renew-deadline=1m"] }),
        /leader election timings/,
      );
    });

    void it("does not check the timings together when one is itself invalid", () => {
      assert.equal(
        failure({ argv: ["-leader-election-renew-deadline=forever", "-leader-election-lease-duration=1s"] }),
        'invalid configuration: leader-election-renew-deadline (flag -leader-election-renew-deadline) = "forever": expected a duration like 20s, 6h or 1h30m',
      );
    });

    void it("ignores an invalid POD_NAMESPACE when the namespace is set", () => {
      const config = load({ argv: ["-leader-election-namespace=leases"], env: { POD_NAMESPACE: "Bad" } });
      assert.equal(config.leaderElectionNamespace, "leases");
    });
  });
});
