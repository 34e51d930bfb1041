import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  LabelSelectorError,
  parseLabelSelector,
  selectorKeys,
  selectorMatches,
  type LabelSelector,
} from "../../../src/domain/label-selector.ts";

/** A parsed selector written back as `key op value|value`, one requirement per element. */
const show = (s: LabelSelector): string[] =>
  s.requirements.map((r) => `${r.key} ${r.operator} ${r.values.join("|")}`.trim());

// The rules of k8s.io/apimachinery/pkg/labels Parse: what parses, into which requirements.
const GOOD: [string, string[]][] = [
  ["", []],
  ["   ", []],
  ["x", ["x exists"]],
  ["!x", ["x !"]],
  [" ! x ", ["x !"]],
  ["x=a", ["x = a"]],
  ["x==a", ["x == a"]],
  ["x!=a", ["x != a"]],
  ["x = a , y != b", ["x = a", "y != b"]],
  ["x=", ["x ="]],
  ["x= ,y=b", ["x =", "y = b"]],
  ["x!=,y", ["x !=", "y exists"]],
  ["x in (a,b)", ["x in a|b"]],
  ["x in(b,a,b)", ["x in a|b"]],
  ["x notin (a)", ["x notin a"]],
  ["x in ()", ["x in"]],
  ["x in (a,)", ["x in |a"]],
  ["x in (,a)", ["x in |a"]],
  ["x in (a,,b)", ["x in |a|b"]],
  ["x in (,,,)", ["x in"]],
  ["in in (in,notin)", ["in in in|notin"]],
  ["notin notin (x)", ["notin notin x"]],
  ["x=in", ["x = in"]],
  ["x>1", ["x gt 1"]],
  ["x < 10", ["x lt 10"]],
  ["x>1,z<5", ["x gt 1", "z lt 5"]],
  ["env=prod,tier!=db", ["env = prod", "tier != db"]],
  ["team in (a,b),!no-ecr", ["team in a|b", "no-ecr !"]],
  ["example.com/team=a_b.c-d", ["example.com/team = a_b.c-d"]],
  ["kubernetes.io/metadata.name", ["kubernetes.io/metadata.name exists"]],
  ["x=a\t,\ny\r", ["x = a", "y exists"]],
  [`${"k".repeat(63)}=${"v".repeat(63)}`, [`${"k".repeat(63)} = ${"v".repeat(63)}`]],
];

// What does not parse: the problem and its 1-based position.
const BAD: [string, RegExp, number][] = [
  ["x==a==b", /found '==', expected ',' or end of string/, 5],
  ["!x=a", /found '=', expected ',' or end of string/, 3],
  ["!x in (a)", /found 'in', expected ',' or end of string/, 4],
  ["x y", /found 'y', expected one of in, notin, =, ==, !=, >, </, 3],
  ["x!", /found '!', expected one of in, notin/, 2],
  ["x,", /found end of string, expected '!' or a key after ','/, 3],
  [",x", /found ',', expected '!', a key or end of string/, 1],
  ["x,,y", /found ',', expected '!' or a key after ','/, 3],
  ["!", /found end of string, expected a key/, 2],
  ["!!x", /found '!', expected a key/, 2],
  ["(x)", /found '\(', expected '!', a key or end of string/, 1],
  ["x===a", /found '=', expected a value/, 4],
  ["x=(a)", /found '\(', expected a value/, 3],
  ["x in a", /found 'a', expected '\('/, 6],
  ["x in (a b)", /found 'b', expected ',' or '\)'/, 9],
  ["x in (a", /found end of string, expected ',' or '\)'/, 8],
  ["x in (=)", /found '=', expected a value, ',' or '\)'/, 7],
  ["x in (,,)", /found '\)', expected ',' or a value/, 9],
  ["x in (a,,)", /found '\)', expected ',' or a value/, 10],
  ["x notin", /found end of string, expected '\('/, 8],
  ["x<a", /value 'a' of key 'x' must be an integer for '<'/, 3],
  ["x>1.5", /value '1.5' of key 'x' must be an integer for '>'/, 3],
  ["x>", /value '' of key 'x' must be an integer/, 3],
  ["x>-1", /value '-1' of key 'x' is not a label value/, 3],
  ["x>99999999999999999999", /must be an integer/, 3],
  ["x=a||y=b", /value 'a\|\|y' of key 'x' is not a label value/, 3],
  ["x in (a,b@c)", /value 'b@c' of key 'x' is not a label value/, 9],
  [`x=${"v".repeat(64)}`, /longer than 63 characters/, 3],
  ["a/b/c", /key 'a\/b\/c' is not a label key: at most one '\/'/, 1],
  ["/a", /the prefix before '\/' is empty/, 1],
  ["a/", /the name part is empty/, 1],
  ["Example.com/a", /prefix before '\/' must be a lowercase DNS subdomain/, 1],
  ["x,-a", /key '-a' is not a label key: the name part must consist of/, 3],
  ["k".repeat(64), /the name part is longer than 63 characters/, 1],
  ["team in (a,b) , e|v", /key 'e\|v' is not a label key/, 17],
];

void describe("label selectors: parsing (Kubernetes' grammar)", () => {
  for (const [text, expected] of GOOD) {
    void it(`parses ${JSON.stringify(text)}`, () => {
      assert.deepEqual(show(parseLabelSelector(text)), expected);
    });
  }
  for (const [text, message, position] of BAD) {
    void it(`rejects ${JSON.stringify(text)} at position ${String(position)}`, () => {
      assert.throws(
        () => parseLabelSelector(text),
        (err: unknown) => {
          assert.ok(err instanceof LabelSelectorError);
          assert.match(err.message, message);
          assert.equal(err.position, position, err.message);
          assert.match(err.message, new RegExp(`at position ${String(position)}$`));
          return true;
        },
      );
    });
  }

  void it("lists the keys a selector reads", () => {
    assert.deepEqual(selectorKeys(parseLabelSelector("a=1,!b,a in (2),c notin (x)")), ["a", "b", "c"]);
  });
});

// What matches (Requirement.Matches): != and notin also match a missing key; in, =, >, < need it.
const MATCHES: [string, Record<string, string>, boolean][] = [
  ["", {}, true],
  ["x", { x: "" }, true],
  ["x", { y: "a" }, false],
  ["!x", {}, true],
  ["!x", { x: "a" }, false],
  ["x=a", { x: "a" }, true],
  ["x==a", { x: "a" }, true],
  ["x=a", { x: "b" }, false],
  ["x=a", {}, false],
  ["x=", { x: "" }, true],
  ["x=", {}, false],
  ["x!=a", {}, true],
  ["x!=a", { x: "a" }, false],
  ["x!=a", { x: "b" }, true],
  ["x in (a,b)", { x: "b" }, true],
  ["x in (a,b)", { x: "c" }, false],
  ["x in (a,b)", {}, false],
  ["x in (a,)", { x: "" }, true],
  ["x in ()", { x: "" }, true],
  ["x notin (a,b)", {}, true],
  ["x notin (a,b)", { x: "a" }, false],
  ["x notin (a,b)", { x: "c" }, true],
  ["x>5", { x: "6" }, true],
  ["x>5", { x: "5" }, false],
  ["x>5", { x: "abc" }, false],
  ["x>5", {}, false],
  ["x<5", { x: "007" }, false],
  ["x<5", { x: "4" }, true],
  ["x>9223372036854775806", { x: "9223372036854775807" }, true],
  ["x>1", { x: "9223372036854775808" }, false],
  ["env=prod,tier!=db", { env: "prod" }, true],
  ["env=prod,tier!=db", { env: "prod", tier: "db" }, false],
  ["env=prod,tier!=db", { env: "dev" }, false],
  ["team in (a,b),!no-ecr", { team: "a" }, true],
  ["team in (a,b),!no-ecr", { team: "a", "no-ecr": "" }, false],
  ["toString", {}, false],
  ["!constructor", {}, true],
];

void describe("label selectors: matching", () => {
  for (const [text, labels, expected] of MATCHES) {
    void it(`${JSON.stringify(text)} ${expected ? "matches" : "does not match"} ${JSON.stringify(labels)}`, () => {
      assert.equal(selectorMatches(parseLabelSelector(text), labels), expected);
    });
  }
  void it("a namespace without labels is matched like an empty set", () => {
    assert.equal(selectorMatches(parseLabelSelector("!x"), undefined), true);
    assert.equal(selectorMatches(parseLabelSelector("x"), undefined), false);
  });
});
