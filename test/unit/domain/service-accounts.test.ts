import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1ServiceAccount } from "@kubernetes/client-node";
import {
  ADDED_ANNOTATION,
  IGNORE_ANNOTATION,
  NO_SERVICE_ACCOUNTS,
  applyPlan,
  isSelected,
  namespaceSelection,
  parseSelection,
  planImagePullSecrets,
  type Selection,
} from "../../../src/domain/service-accounts.ts";

const A = "111111111111.dkr.ecr.eu-west-1.amazonaws.com";
const B = "222222222222.dkr.ecr.us-east-1.amazonaws.com";

function sa(
  name: string,
  entries: string[],
  added?: string,
  extra: Record<string, string> = {},
): V1ServiceAccount {
  const annotations: Record<string, string> = { ...extra };
  if (added !== undefined) annotations[ADDED_ANNOTATION] = added;
  return {
    metadata: { name, namespace: "team", resourceVersion: "7", annotations },
    imagePullSecrets: entries.map((n) => ({ name: n })),
  };
}

const names = (s: V1ServiceAccount | { imagePullSecrets: { name?: string }[] }) =>
  (s.imagePullSecrets ?? []).map((e) => e.name);

void describe("parseSelection", () => {
  const table: [string, Selection | "error"][] = [
    ["", NO_SERVICE_ACCOUNTS],
    ["  ", NO_SERVICE_ACCOUNTS],
    ["*", { kind: "all" }],
    ["default", { kind: "names", names: new Set(["default"]) }],
    [" default , builder ", { kind: "names", names: new Set(["default", "builder"]) }],
    ["a.b-c", { kind: "names", names: new Set(["a.b-c"]) }],
    ["Default", "error"],
    ["a,,b", "error"],
    ["*,default", "error"],
    ["my sa", "error"],
    ["-x", "error"],
  ];
  for (const [text, expected] of table) {
    void it(`${JSON.stringify(text)} -> ${expected === "error" ? "error" : expected.kind}`, () => {
      const parsed = parseSelection(text);
      if (expected === "error") {
        assert.ok("error" in parsed);
        assert.match(parsed.error, /expected empty \(none\), "\*"/);
      } else assert.deepEqual(parsed, expected);
    });
  }
});

void describe("namespaceSelection and isSelected", () => {
  const all: Selection = { kind: "all" };
  void it("the annotation wins over the cluster default; an empty one opts out", () => {
    assert.deepEqual(namespaceSelection(undefined, all), all);
    assert.deepEqual(namespaceSelection("", all), NO_SERVICE_ACCOUNTS);
    assert.deepEqual(namespaceSelection("default", NO_SERVICE_ACCOUNTS), {
      kind: "names",
      names: new Set(["default"]),
    });
  });
  void it("selects by name or all, never an ignored ServiceAccount", () => {
    const names: Selection = { kind: "names", names: new Set(["default"]) };
    assert.equal(isSelected(names, sa("default", [])), true);
    assert.equal(isSelected(names, sa("builder", [])), false);
    assert.equal(isSelected(all, sa("builder", [])), true);
    assert.equal(isSelected(NO_SERVICE_ACCOUNTS, sa("default", [])), false);
    assert.equal(isSelected(all, sa("default", [], undefined, { [IGNORE_ANNOTATION]: "true" })), false);
    assert.equal(isSelected(all, sa("default", [], undefined, { [IGNORE_ANNOTATION]: "false" })), true);
  });
});

void describe("planImagePullSecrets", () => {
  const table: {
    name: string;
    sa: V1ServiceAccount;
    wanted: string[];
    list: string[];
    added: string[];
    changed: boolean;
  }[] = [
    { name: "adds to an empty list", sa: sa("d", []), wanted: [A], list: [A], added: [A], changed: true },
    {
      name: "appends after foreign entries, which keep their place",
      sa: sa("d", ["mine", "other"]),
      wanted: [A, B],
      list: ["mine", "other", A, B],
      added: [A, B],
      changed: true,
    },
    {
      name: "unchanged when ours are there and recorded",
      sa: sa("d", ["mine", A], A),
      wanted: [A],
      list: ["mine", A],
      added: [A],
      changed: false,
    },
    {
      name: "a user's entry of the same name is left unrecorded (never removed later)",
      sa: sa("d", [A, "mine"]),
      wanted: [A],
      list: [A, "mine"],
      added: [],
      changed: false,
    },
    {
      name: "removes only ours that are no longer wanted",
      sa: sa("d", ["x", A, "y", B], `${A},${B}`),
      wanted: [B],
      list: ["x", "y", B],
      added: [B],
      changed: true,
    },
    {
      name: "removes all of ours and keeps the user's entry of the same name it never recorded",
      sa: sa("d", [A, "x", B], B),
      wanted: [],
      list: [A, "x"],
      added: [],
      changed: true,
    },
    {
      name: "removes one entry of a duplicated name: the last, the one eatr appended",
      sa: sa("d", [A, "x", A], A),
      wanted: [],
      list: [A, "x"],
      added: [],
      changed: true,
    },
    {
      name: "re-appends ours when someone deleted it by hand",
      sa: sa("d", ["x"], A),
      wanted: [A],
      list: ["x", A],
      added: [A],
      changed: true,
    },
    {
      name: "forgets a recorded name gone from the list and no longer wanted (annotation only)",
      sa: sa("d", ["x"], A),
      wanted: [],
      list: ["x"],
      added: [],
      changed: true,
    },
    {
      name: "nothing wanted, nothing of ours: unchanged",
      sa: sa("d", ["x"]),
      wanted: [],
      list: ["x"],
      added: [],
      changed: false,
    },
  ];
  for (const row of table) {
    void it(row.name, () => {
      const plan = planImagePullSecrets(row.sa, row.wanted);
      assert.deepEqual(names(plan), row.list);
      assert.deepEqual(plan.added, row.added);
      assert.equal(plan.changed, row.changed);
    });
  }
});

void describe("applyPlan", () => {
  void it("sets the list and eatr's annotation, keeps everything else, does not mutate the live object", () => {
    const live = sa("d", ["x"], undefined, { other: "kept" });
    live.secrets = [{ name: "token" }];
    const before = structuredClone(live);
    const out = applyPlan(live, planImagePullSecrets(live, [A]));
    assert.deepEqual(live, before);
    assert.deepEqual(names(out), ["x", A]);
    assert.deepEqual(out.metadata?.annotations, { other: "kept", [ADDED_ANNOTATION]: A });
    assert.equal(out.metadata?.resourceVersion, "7", "the optimistic lock is the live resourceVersion");
    assert.deepEqual(out.secrets, [{ name: "token" }]);
  });
  void it("drops the annotation and an emptied list when eatr added nothing", () => {
    const live = sa("d", [A], A);
    const out = applyPlan(live, planImagePullSecrets(live, []));
    assert.equal(out.imagePullSecrets, undefined);
    assert.deepEqual(out.metadata?.annotations, {});
  });
});
