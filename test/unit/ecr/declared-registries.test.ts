import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import { parseCredentials } from "../../../src/ecr/credentials.ts";
import {
  declaredCredentials,
  declaredVersion,
  mergeDeclared,
  parseDeclaredRegistries,
} from "../../../src/ecr/declared-registries.ts";
import { parseRegistryHost } from "../../../src/ecr/registry-host.ts";
import { loadConfig } from "../../../src/config/index.ts";

const HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
const registry = parseRegistryHost(HOST) ?? assert.fail();
const ROLE = "arn:aws:iam::210987654321:role/eatr-pull";
const W = "config file /c.yaml";
const b64 = (s: string) => Buffer.from(s).toString("base64");

void describe("the registries list", () => {
  void it("reads every source", () => {
    const { registries, problems } = parseDeclaredRegistries(
      [
        { host: HOST, source: "webIdentity", roleArn: ROLE, sessionName: "eatr", region: "us-east-1" },
        {
          host: "111111111111.dkr.ecr.us-east-1.amazonaws.com",
          source: "assumeRole",
          roleArn: ROLE,
          externalId: "ext-1",
        },
        { host: "222222222222.dkr.ecr.us-east-1.amazonaws.com", source: "default" },
        { host: "333333333333.dkr.ecr.us-east-1.amazonaws.com", source: "keys" },
      ],
      W,
    );
    assert.deepEqual(problems, []);
    assert.equal(registries.length, 4);
    assert.deepEqual(declaredCredentials(registries[0] ?? assert.fail(), registry), {
      source: { kind: "webIdentity", roleArn: ROLE, sessionName: "eatr", stsRegion: "us-east-1" },
      region: "eu-west-1",
    });
    assert.deepEqual(declaredCredentials(registries[2] ?? assert.fail(), registry), {
      source: { kind: "default" },
      region: "eu-west-1",
    });
    assert.equal(
      declaredCredentials(registries[3] ?? assert.fail(), registry),
      undefined,
      "keys need a secret",
    );
  });

  void it("declares public.ecr.aws with any source, its STS and ECR Public calls in us-east-1 by default", () => {
    const publicRegistry = parseRegistryHost("public.ecr.aws") ?? assert.fail();
    const { registries, problems } = parseDeclaredRegistries(
      [{ host: "Public.ECR.aws", source: "assumeRole", roleArn: ROLE, externalId: "ext-1" }],
      W,
    );
    assert.deepEqual(problems, []);
    const entry = registries[0] ?? assert.fail();
    assert.equal(entry.host, "public.ecr.aws", "written as the label key is");
    assert.deepEqual(declaredCredentials(entry, publicRegistry), {
      source: { kind: "assumeRole", roleArn: ROLE, externalId: "ext-1" },
      region: "us-east-1",
    });
    for (const source of ["keys", "default", "webIdentity"]) {
      const written = [
        { host: "public.ecr.aws", source, ...(source === "webIdentity" ? { roleArn: ROLE } : {}) },
      ];
      assert.deepEqual(parseDeclaredRegistries(written, W).problems, [], source);
    }
  });

  const bad: [string, unknown, RegExp][] = [
    ["not a list", { host: HOST }, /"registries" must be a list/],
    ["an entry that is not a mapping", ["x"], /registries\[0\]: expected a mapping/],
    ["no host", [{ source: "default" }], /registries\[0\]: "host" is missing/],
    [
      "a host that is not ECR",
      [{ host: "docker.io", source: "default" }],
      /registries\[0\]: "host" is not an ECR registry host like 123456789012\.dkr\.ecr\.eu-west-1\.amazonaws\.com or public\.ecr\.aws$/,
    ],
    [
      "a look-alike of public.ecr.aws",
      [{ host: "public.ecr.aws.evil.com", source: "default" }],
      /registries\[0\]: "host" is not an ECR registry host/,
    ],
    [
      "an unknown source",
      [{ host: HOST, source: "magic" }],
      /registries\[0\] \(123456789012\.dkr\.ecr\.eu-west-1\.amazonaws\.com\): "source" must be one of keys, assumeRole, webIdentity, default/,
    ],
    [
      "a role source without a role",
      [{ host: HOST, source: "webIdentity" }],
      /\(source webIdentity\): "roleArn" is missing/,
    ],
    [
      "a bad role ARN",
      [{ host: HOST, source: "assumeRole", roleArn: "arn:aws:iam::1:user/x" }],
      /\(source assumeRole\): "roleArn" is not an IAM role ARN/,
    ],
    [
      "a role on the default chain",
      [{ host: HOST, source: "default", roleArn: ROLE }],
      /\(source default\): "roleArn" and "region" apply to assumeRole and webIdentity only/,
    ],
    [
      "an external ID with web identity",
      [{ host: HOST, source: "webIdentity", roleArn: ROLE, externalId: "ext-1" }],
      /"externalId" is not used with web identity/,
    ],
    [
      "a bad region",
      [{ host: HOST, source: "assumeRole", roleArn: ROLE, region: "Ireland" }],
      /"region" is not an AWS region/,
    ],
    [
      "a duration as text",
      [{ host: HOST, source: "assumeRole", roleArn: ROLE, durationSeconds: "1h" }],
      /"durationSeconds" must be a number/,
    ],
    ["an unknown field", [{ host: HOST, source: "default", secret: "x" }], /unknown field "secret"/],
    [
      "a namespaceSelector that does not parse, with the position",
      [{ host: HOST, namespaceSelector: "team in (a b)" }],
      /registries\[0\] \(123456789012\.dkr\.ecr\.eu-west-1\.amazonaws\.com\): "namespaceSelector" is not a label selector: found 'b', expected ',' or '\)' at position 12 of "team in \(a b\)"/,
    ],
    [
      "a namespaceSelector that is not a string",
      [{ host: HOST, namespaceSelector: { matchLabels: { team: "a" } } }],
      /"namespaceSelector" must be a label selector string/,
    ],
    [
      "an empty namespaceSelector",
      [{ host: HOST, namespaceSelector: " " }],
      /"namespaceSelector" is empty; to serve every namespace write "kubernetes.io\/metadata.name"/,
    ],
    [
      "excludeNamespaces that is not a list",
      [{ host: HOST, namespaceSelector: "team", excludeNamespaces: "kube-*" }],
      /"excludeNamespaces" must be a list of namespace names or globs/,
    ],
    [
      "an excludeNamespaces entry that can never match",
      [{ host: HOST, namespaceSelector: "team", excludeNamespaces: ["kube-*", "Kube_System"] }],
      /"excludeNamespaces"\[1\] "Kube_System" can never match a namespace name/,
    ],
    [
      "excludeNamespaces without a namespaceSelector",
      [{ host: HOST, excludeNamespaces: ["kube-*"] }],
      /"excludeNamespaces" narrows "namespaceSelector", which is missing/,
    ],
    [
      "a host listed twice",
      [
        { host: HOST, source: "default" },
        { host: HOST, source: "default" },
      ],
      /registries\[1\] \(123456789012\.dkr\.ecr\.eu-west-1\.amazonaws\.com\) is listed twice/,
    ],
  ];
  for (const [name, written, message] of bad) {
    void it(`rejects ${name}, naming the entry and the field`, () => {
      const { problems } = parseDeclaredRegistries(written, W);
      assert.equal(problems.length, 1, problems.join("\n"));
      assert.match(problems[0] ?? "", message);
      assert.match(problems[0] ?? "", /^config file \/c\.yaml: /);
      assert.doesNotMatch(problems[0] ?? "", /ext-1|Ireland|1h/);
    });
  }

  void it("precedence: the secret decides; an assumeRole entry adds its role to a keys-only secret", () => {
    const keysOnly = parseCredentials(
      {
        metadata: { name: "c", namespace: "ci-cd" },
        data: { aws_access_key_id: b64("AKIA1"), aws_secret_access_key: b64("s") },
      },
      registry,
    );
    const withOwnRole = parseCredentials(
      {
        metadata: { name: "c", namespace: "ci-cd" },
        data: { aws_role_arn: b64("arn:aws:iam::999999999999:role/own") },
      },
      registry,
    );
    const [assume, web] = parseDeclaredRegistries(
      [
        { host: HOST, source: "assumeRole", roleArn: ROLE },
        { host: "111111111111.dkr.ecr.us-east-1.amazonaws.com", source: "webIdentity", roleArn: ROLE },
      ],
      W,
    ).registries;
    assert.deepEqual(mergeDeclared(keysOnly, assume).source, { kind: "assumeRole", roleArn: ROLE });
    assert.equal(mergeDeclared(withOwnRole, assume), withOwnRole, "the secret's own role wins");
    assert.equal(mergeDeclared(keysOnly, web), keysOnly, "a secret with keys uses them");
    assert.equal(mergeDeclared(keysOnly, undefined), keysOnly);
    assert.notEqual(
      declaredVersion(assume ?? assert.fail()),
      declaredVersion(assume ?? assert.fail(), "abc"),
    );
    assert.match(declaredVersion(assume ?? assert.fail()), /^[0-9a-f]{16}$/);
  });

  void it("an entry without source keeps using its credential secret (keys)", () => {
    const { registries, problems } = parseDeclaredRegistries([{ host: HOST }], W);
    assert.deepEqual(problems, []);
    assert.deepEqual(registries, [{ host: HOST, source: "keys" }]);
    assert.equal(declaredCredentials(registries[0] ?? assert.fail(), registry), undefined, "needs a secret");
    assert.equal(
      declaredVersion(registries[0] ?? assert.fail()),
      declaredVersion(
        parseDeclaredRegistries([{ host: HOST, source: "keys" }], W).registries[0] ?? assert.fail(),
      ),
      "the same as source keys written out",
    );
  });

  void it("reads namespaceSelector and excludeNamespaces, which do not change the credentials version", () => {
    const plain = { host: HOST, source: "assumeRole", roleArn: ROLE };
    const { registries, problems } = parseDeclaredRegistries(
      [{ ...plain, namespaceSelector: "team in (a,b),!no-ecr", excludeNamespaces: ["kube-*", "sandbox"] }],
      W,
    );
    assert.deepEqual(problems, []);
    const entry = registries[0] ?? assert.fail();
    assert.equal(entry.namespaceSelector?.text, "team in (a,b),!no-ecr");
    assert.equal(entry.namespaceSelector.requirements.length, 2);
    assert.deepEqual(entry.excludeNamespaces, ["kube-*", "sandbox"]);
    const without = parseDeclaredRegistries([plain], W).registries[0] ?? assert.fail();
    assert.equal(declaredVersion(entry), declaredVersion(without));
    assert.equal(declaredVersion(entry, "s1"), declaredVersion(without, "s1"));
    // The version of an entry as written before this field existed: unchanged, so no re-mint on upgrade.
    assert.equal(
      declaredVersion(without),
      createHash("sha256")
        .update(`\u0000${JSON.stringify(without)}`)
        .digest("hex")
        .slice(0, 16),
    );
  });

  void it("is read from the config file, problems included", () => {
    const yaml = `registries:\n  - host: ${HOST}\n    source: webIdentity\n    roleArn: ${ROLE}\n`;
    const result = loadConfig({ argv: ["-config", "/c.yaml"], env: {}, readFile: () => yaml });
    assert.equal(result.kind, "run");
    if (result.kind === "run")
      assert.deepEqual(result.config.registries, [{ host: HOST, source: "webIdentity", roleArn: ROLE }]);
    assert.throws(
      () =>
        loadConfig({
          argv: ["-config", "/c.yaml"],
          env: {},
          readFile: () => "registries:\n  - host: nope\n",
        }),
      /config file \/c\.yaml: registries\[0\]: "host" is not an ECR registry host/,
    );
  });
});
