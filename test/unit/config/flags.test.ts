import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseFlags } from "../../../src/config/flags.ts";

const VALUE_FLAGS = new Set(["port", "host-namespace", "shutdown-grace-period", "config"]);
const BOOL_FLAGS = new Set(["leader-elect"]);

function values(argv: string[]): Record<string, string> {
  const parsed = parseFlags(argv, VALUE_FLAGS, BOOL_FLAGS);
  assert.deepEqual(parsed.problems, []);
  return Object.fromEntries([...parsed.values].map(([name, value]) => [name, value.text]));
}

void describe("parseFlags", () => {
  const forms: [string, string[]][] = [
    ["-flag value", ["-port", "6000"]],
    ["-flag=value", ["-port=6000"]],
    ["--flag value", ["--port", "6000"]],
    ["--flag=value", ["--port=6000"]],
  ];
  for (const [form, argv] of forms) {
    void it(`accepts the Go form ${form}`, () => {
      assert.deepEqual(values(argv), { port: "6000" });
    });
  }

  void it("remembers how the flag was spelled", () => {
    const parsed = parseFlags(["-port", "1", "--host-namespace=x"], VALUE_FLAGS);
    assert.equal(parsed.values.get("port")?.spelling, "-port");
    assert.equal(parsed.values.get("host-namespace")?.spelling, "--host-namespace");
  });

  const accepted: [string, string[], Record<string, string>][] = [
    ["no arguments", [], {}],
    ["several flags", ["-port=1", "--host-namespace", "ns"], { port: "1", "host-namespace": "ns" }],
    ["a repeated flag keeps its last value", ["-port=1", "-port=2"], { port: "2" }],
    ["an empty value after =", ["--host-namespace="], { "host-namespace": "" }],
    ["an empty value as the next argument", ["--host-namespace", ""], { "host-namespace": "" }],
    ["a value with =", ["--config=a=b.yaml"], { config: "a=b.yaml" }],
    ["a value starting with a dash", ["-shutdown-grace-period", "-1s"], { "shutdown-grace-period": "-1s" }],
    ["a trailing --", ["-port", "1", "--"], { port: "1" }],
    ["a boolean flag alone", ["-leader-elect"], { "leader-elect": "true" }],
    ["a boolean flag with two dashes", ["--leader-elect"], { "leader-elect": "true" }],
    ["a boolean flag with =false", ["-leader-elect=false"], { "leader-elect": "false" }],
    ["a boolean flag with =true", ["--leader-elect=true"], { "leader-elect": "true" }],
    ["a boolean flag with a bad value (checked later)", ["-leader-elect=maybe"], { "leader-elect": "maybe" }],
    [
      "a boolean flag before a value flag",
      ["-leader-elect", "-port", "1"],
      { "leader-elect": "true", port: "1" },
    ],
    [
      "a value flag before a boolean flag",
      ["-port=1", "--leader-elect"],
      { "leader-elect": "true", port: "1" },
    ],
  ];
  for (const [name, argv, expected] of accepted) {
    void it(`accepts ${name}`, () => {
      assert.deepEqual(values(argv), expected);
    });
  }

  const rejected: [string, string[], string[]][] = [
    ["an unknown flag", ["--bogus=1"], ["unknown flag --bogus (see eatr --help)"]],
    [
      "an unknown flag and its value",
      ["-bogus", "1", "-port", "2"],
      ["unknown flag -bogus (see eatr --help)"],
    ],
    ["a flag without a value at the end", ["--port"], ["flag --port needs a value"]],
    ["a flag followed by another flag", ["-port", "--host-namespace=x"], ["flag -port needs a value"]],
    ["a flag followed by --", ["-port", "--"], ["flag -port needs a value"]],
    ["a positional argument", ["run"], ['unexpected argument "run": eatr takes only flags']],
    ["an argument after --", ["--", "-port=1"], ['unexpected argument "-port=1": eatr takes only flags']],
    ["a lone dash", ["-"], ['unexpected argument "-": eatr takes only flags']],
    ["three dashes", ["---port=1"], ["bad flag syntax: ---port=1"]],
    ["an empty flag name", ["--=1"], ["bad flag syntax: --=1"]],
    ["a value given to --help", ["--help=yes"], ["flag --help takes no value"]],
    [
      "a boolean flag with its value as the next argument (Go would take it as a positional argument)",
      ["-leader-elect", "false"],
      ["flag -leader-elect is a boolean: write -leader-elect=false, not -leader-elect false"],
    ],
    [
      "a boolean flag followed by 1",
      ["--leader-elect", "1", "-port=2"],
      ["flag --leader-elect is a boolean: write --leader-elect=1, not --leader-elect 1"],
    ],
    [
      "a boolean flag followed by some other argument",
      ["-leader-elect", "run"],
      ['unexpected argument "run": eatr takes only flags'],
    ],
    ["a value flag followed by a boolean flag", ["-port", "-leader-elect"], ["flag -port needs a value"]],
  ];
  for (const [name, argv, problems] of rejected) {
    void it(`rejects ${name}`, () => {
      assert.deepEqual(parseFlags(argv, VALUE_FLAGS, BOOL_FLAGS).problems, problems);
    });
  }

  const requests: [string[], { help: boolean; version: boolean }][] = [
    [["-h"], { help: true, version: false }],
    [["-help"], { help: true, version: false }],
    [["--help"], { help: true, version: false }],
    [["--h"], { help: true, version: false }],
    [["-version"], { help: false, version: true }],
    [["--version"], { help: false, version: true }],
    [["-port=1"], { help: false, version: false }],
  ];
  for (const [argv, expected] of requests) {
    void it(`reads ${argv.join(" ")} as help=${expected.help} version=${expected.version}`, () => {
      const parsed = parseFlags(argv, VALUE_FLAGS);
      assert.deepEqual({ help: parsed.help, version: parsed.version }, expected);
    });
  }
});
