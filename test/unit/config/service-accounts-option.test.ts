import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, loadConfig, type Config, type LoadConfigOptions } from "../../../src/config/index.ts";

function load(options: Partial<LoadConfigOptions>): Config {
  const result = loadConfig({ argv: [], env: {}, ...options });
  assert.equal(result.kind, "run");
  return result.config;
}

void describe("ServiceAccount options", () => {
  void it("are off by default: existing users see no change", () => {
    const config = load({});
    assert.equal(config.manageServiceAccounts, false);
    assert.equal(config.serviceAccounts, "");
  });

  void it("-manage-service-accounts turns the feature on with no cluster-wide selection", () => {
    const config = load({ argv: ["-manage-service-accounts"] });
    assert.equal(config.manageServiceAccounts, true);
    assert.equal(config.serviceAccounts, "");
    assert.equal(load({ env: { EATR_MANAGE_SERVICE_ACCOUNTS: "true" } }).manageServiceAccounts, true);
  });

  void it("a non-empty -service-accounts turns the feature on", () => {
    for (const value of ["default", "*", "default, builder"]) {
      const config = load({ argv: [`-service-accounts=${value}`] });
      assert.equal(config.manageServiceAccounts, true, value);
      assert.equal(config.serviceAccounts, value);
    }
  });

  void it("-service-accounts false and empty keeps it off even when a file sets nothing", () => {
    assert.equal(
      load({ argv: ["-manage-service-accounts=false", "-service-accounts="] }).manageServiceAccounts,
      false,
    );
  });

  void it("rejects a selection that is not names, * or empty, saying what it expects", () => {
    for (const value of ["Default", "a,,b", "*,default", "my sa"]) {
      assert.throws(
        () => load({ env: { EATR_SERVICE_ACCOUNTS: value } }),
        (err: unknown) =>
          err instanceof ConfigError &&
          err.message.includes(`service-accounts (env EATR_SERVICE_ACCOUNTS) = "${value}"`) &&
          err.message.includes('"*" (every ServiceAccount)'),
        value,
      );
    }
  });
});
