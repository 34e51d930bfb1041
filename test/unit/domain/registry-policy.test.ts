import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseLabelSelector } from "../../../src/domain/label-selector.ts";
import { compileNamePatterns, namePatternProblem } from "../../../src/domain/name-pattern.ts";
import { LABELS_ONLY, RegistryPolicy, type RegistryServing } from "../../../src/domain/registry-policy.ts";

const A = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
const B = "210987654321.dkr.ecr.us-east-1.amazonaws.com";
const U = "333333333333.dkr.ecr.us-west-2.amazonaws.com"; // never declared

const declared: RegistryServing[] = [
  {
    host: A,
    namespaceSelector: parseLabelSelector("team in (web,api),!no-ecr"),
    excludeNamespaces: ["kube-system", "sandbox-*", "*-tmp"],
  },
  { host: B }, // declared without a selector: labels only
];

const ns = (name: string, labels: Record<string, string> = {}) => ({ metadata: { name, labels } });

// [case, namespace name, labels, restricted, wanted hosts, undeclared hosts]
const CASES: [string, string, Record<string, string>, boolean, string[], string[]][] = [
  ["the selector matches", "web-1", { team: "web" }, false, [A], []],
  ["the selector does not match", "db-1", { team: "db" }, false, [], []],
  ["no labels at all", "plain", {}, false, [], []],
  ["the selector's !no-ecr excludes", "web-2", { team: "web", "no-ecr": "" }, false, [], []],
  ["excluded by name", "kube-system", { team: "web" }, false, [], []],
  ["excluded by a prefix glob", "sandbox-42", { team: "api" }, false, [], []],
  ["excluded by a suffix glob", "web-tmp", { team: "api" }, false, [], []],
  ["a glob that does not cover the name", "sandbox", { team: "api" }, false, [A], []],
  ['label "true" opts in without the selector', "db-2", { team: "db", [A]: "true" }, false, [A], []],
  ['label "true" opts in although excluded', "kube-system", { team: "web", [A]: "true" }, false, [A], []],
  [
    'label "false" opts out although the selector matches',
    "web-3",
    { team: "web", [A]: "false" },
    false,
    [],
    [],
  ],
  ["any other label value opts out", "web-4", { team: "web", [A]: "True" }, false, [], []],
  ["an empty label value opts out", "web-5", { team: "web", [A]: "" }, false, [], []],
  [
    "a host label in upper case counts as that host",
    "web-6",
    { team: "web", [A.toUpperCase()]: "no" },
    false,
    [],
    [],
  ],
  ["labels for several registries", "web-7", { team: "web", [B]: "true" }, false, [B, A], []],
  ["an undeclared host is served when not restricted", "x-1", { [U]: "true" }, false, [U], []],
  ["an undeclared host is refused when restricted", "x-2", { [U]: "true" }, true, [], [U]],
  [
    "restricted: declared hosts still served",
    "web-8",
    { team: "web", [U]: "true", [B]: "true" },
    true,
    [B, A],
    [U],
  ],
  ["restricted: an undeclared host labelled false is no request", "x-3", { [U]: "false" }, true, [], []],
  ["a label that is no registry host is ignored", "x-4", { "example.com": "true" }, true, [], []],
];

void describe("RegistryPolicy.wants: labels, namespaceSelector, excludeNamespaces, restriction", () => {
  for (const [name, nsName, labels, restricted, wanted, undeclared] of CASES) {
    void it(name, () => {
      const policy = new RegistryPolicy({ registries: declared, restrictToDeclared: restricted });
      const wants = policy.wants(ns(nsName, labels));
      assert.deepEqual(
        wants.wanted.map((r) => r.host),
        wanted,
      );
      assert.deepEqual(
        wants.undeclared.map((r) => r.host),
        undeclared,
      );
      assert.deepEqual(
        policy.wanted(ns(nsName, labels)).map((r) => r.host),
        wanted,
      );
    });
  }

  void it("manages only declared hosts when restricted, every host otherwise", () => {
    const restricted = new RegistryPolicy({ registries: declared, restrictToDeclared: true });
    assert.equal(restricted.manages(A), true);
    assert.equal(restricted.manages(B), true);
    assert.equal(restricted.manages(U), false);
    const open = new RegistryPolicy({ registries: declared, restrictToDeclared: false });
    assert.equal(open.manages(U), true);
    assert.equal(LABELS_ONLY.manages(U), true);
  });

  void it("keeps the registry labels and the labels the selectors read, nothing else", () => {
    const policy = new RegistryPolicy({ registries: declared, restrictToDeclared: false });
    assert.equal(policy.keepsLabel(A), true);
    assert.equal(policy.keepsLabel(U), true);
    assert.equal(policy.keepsLabel("team"), true);
    assert.equal(policy.keepsLabel("no-ecr"), true);
    assert.equal(policy.keepsLabel("kubernetes.io/metadata.name"), false);
    assert.equal(LABELS_ONLY.keepsLabel("team"), false);
  });

  void it("the seed's policy: labels only", () => {
    assert.deepEqual(
      LABELS_ONLY.wanted(ns("a", { [A]: "true", [B]: "yes", team: "web" })).map((r) => r.host),
      [A],
    );
  });
});

void describe("namespace name patterns", () => {
  const CASES_: [string[], string, boolean][] = [
    [["kube-system"], "kube-system", true],
    [["kube-system"], "kube-system2", false],
    [["kube-*"], "kube-public", true],
    [["kube-*"], "kube-", true],
    [["kube-*"], "kube", false],
    [["*-tmp"], "a-tmp", true],
    [["*-tmp"], "a-tmp-b", false],
    [["a*b*c"], "axxbyyc", true],
    [["a*b*c"], "acb", false],
    [["*"], "anything", true],
    [["x.y"], "xzy", false],
    [[], "a", false],
  ];
  for (const [patterns, name, expected] of CASES_) {
    void it(`${JSON.stringify(patterns)} ${expected ? "matches" : "does not match"} ${name}`, () => {
      assert.equal(compileNamePatterns(patterns)(name), expected);
    });
  }
  void it("rejects patterns that can never match a namespace name", () => {
    assert.equal(namePatternProblem("kube-*"), undefined);
    assert.match(namePatternProblem("") ?? "", /empty/);
    assert.match(namePatternProblem("Kube-*") ?? "", /lowercase letters, digits, '-' and '\*'/);
    assert.match(namePatternProblem("kube-?") ?? "", /can never match/);
    assert.match(namePatternProblem("a".repeat(64)) ?? "", /longer than a namespace name/);
    assert.equal(namePatternProblem(`${"a".repeat(63)}*`), undefined);
  });
});
