import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  dnsLabel,
  dnsSubdomain,
  duration,
  endpointUrl,
  goBool,
  integerFormat,
  optionalDnsLabel,
  positiveDuration,
  positiveNumber,
  registerConvictFormats,
  renewalInterval,
  safetyMargin,
  secretNamePrefix,
  tcpPort,
  toConvictFormat,
  wholeSecondsDuration,
  type AnyValueFormat,
} from "../../../src/config/formats.ts";

type AnyFormat = AnyValueFormat;

void describe("formats", () => {
  const accepted: [AnyFormat, string, number | string | boolean][] = [
    [duration, "0", 0],
    [duration, "1h30m", 5_400_000],
    [positiveDuration, "1ns", 0.000001],
    [tcpPort, "0", 0],
    [tcpPort, "65535", 65535],
    [integerFormat("test-int", 1, 64), "+7", 7],
    [positiveNumber, "0.5", 0.5],
    [positiveNumber, "1e2", 100],
    [dnsLabel, "a", "a"],
    [dnsLabel, "a".repeat(63), "a".repeat(63)],
    [secretNamePrefix, "my.prefix-1", "my.prefix-1"],
    [endpointUrl, "", ""],
    [endpointUrl, "https://ecr.example.com:8443/path", "https://ecr.example.com:8443/path"],
    [renewalInterval, "20s", 20_000],
    [renewalInterval, "6h", 21_600_000],
    [safetyMargin, "0", 0],
    [safetyMargin, "11h59m59s", 43_199_000],
    [wholeSecondsDuration, "15s", 15_000],
    [wholeSecondsDuration, "1m", 60_000],
    [wholeSecondsDuration, "1500ms500ms", 2000],
    [goBool, "true", true],
    [goBool, "false", false],
    [goBool, "1", true],
    [goBool, "0", false],
    [goBool, "T", true],
    [goBool, "f", false],
    [goBool, "TRUE", true],
    [goBool, "False", false],
    [dnsSubdomain, "eatr", "eatr"],
    [dnsSubdomain, "eatr.example.com", "eatr.example.com"],
    [dnsSubdomain, "a".repeat(253), "a".repeat(253)],
    [optionalDnsLabel, "", ""],
    [optionalDnsLabel, "kube-system", "kube-system"],
  ];
  for (const [format, text, value] of accepted) {
    void it(`${format.name} reads ${JSON.stringify(text)}`, () => {
      assert.deepEqual(format.parse(text), { ok: true, value });
    });
  }

  const rejected: [AnyFormat, string][] = [
    [duration, "-1ns"],
    [positiveDuration, "0s"],
    [tcpPort, "-1"],
    [tcpPort, "65536"],
    [tcpPort, " 80"],
    [tcpPort, "0x50"],
    [positiveNumber, "-1"],
    [positiveNumber, "Infinity"],
    [positiveNumber, "1e999"],
    [dnsLabel, ""],
    [dnsLabel, "-a"],
    [dnsLabel, "a-"],
    [dnsLabel, "a.b"],
    [secretNamePrefix, ""],
    [secretNamePrefix, "a."],
    [secretNamePrefix, "a".repeat(181)],
    [endpointUrl, "https://"],
    [endpointUrl, "not a url"],
    [endpointUrl, "file:///tmp/x"],
    [renewalInterval, "1ms"],
    [renewalInterval, "19s999ms"],
    [renewalInterval, "0"],
    [renewalInterval, "-1h"],
    [renewalInterval, "6 hours"],
    [safetyMargin, "12h"],
    [safetyMargin, "13h"],
    [safetyMargin, "-1s"],
    [endpointUrl, "https://user:pw@ecr.example.com"],
    [endpointUrl, "https://token@ecr.example.com"],
    [endpointUrl, "https://ecr.example.com/?X-Amz-Signature=abc"],
    [endpointUrl, "https://ecr.example.com/?access_token=abc"],
    [wholeSecondsDuration, "1500ms"],
    [wholeSecondsDuration, "0s"],
    [wholeSecondsDuration, "15"],
    [goBool, ""],
    [goBool, "yes"],
    [goBool, "tRuE"],
    [goBool, " true"],
    [dnsSubdomain, ""],
    [dnsSubdomain, "Eatr"],
    [dnsSubdomain, "a..b"],
    [dnsSubdomain, "a".repeat(254)],
    [optionalDnsLabel, "a.b"],
    [optionalDnsLabel, "-"],
  ];
  for (const [format, text] of rejected) {
    void it(`${format.name} rejects ${JSON.stringify(text)}`, () => {
      assert.equal(format.parse(text).ok, false);
    });
  }
});

void describe("toConvictFormat", () => {
  const port = toConvictFormat(tcpPort);

  void it("coerces text it can read and leaves other text for validate to report", () => {
    assert.equal(port.coerce("80"), 80);
    assert.equal(port.coerce("eighty"), "eighty");
  });

  void it("validates with the format's own message", () => {
    assert.throws(
      () => {
        port.validate("eighty");
      },
      {
        message: "expected a port number from 0 to 65535",
      },
    );
    assert.throws(
      () => {
        port.validate(true);
      },
      {
        message: "expected a port number from 0 to 65535",
      },
    );
    assert.doesNotThrow(() => {
      port.validate(80);
    });
  });

  void it("rechecks strings for string formats and rejects numbers for them", () => {
    const label = toConvictFormat(dnsLabel);
    assert.doesNotThrow(() => {
      label.validate("ci-cd");
    });
    assert.throws(() => {
      label.validate("CI");
    }, /expected a DNS-1123 label/);
    assert.throws(() => {
      label.validate(1);
    }, /expected a DNS-1123 label/);
  });
});

void describe("toConvictFormat with a boolean format", () => {
  const bool = toConvictFormat(goBool);

  void it("coerces Go's boolean words and validates booleans", () => {
    assert.equal(bool.coerce("false"), false);
    assert.equal(bool.coerce("1"), true);
    assert.equal(bool.coerce("yes"), "yes");
    assert.doesNotThrow(() => {
      bool.validate(false);
    });
    assert.throws(() => {
      bool.validate("yes");
    }, /expected true or false/);
    assert.throws(() => {
      bool.validate(1);
    }, /expected true or false/);
  });
});

void describe("registerConvictFormats", () => {
  void it("refuses two different formats with one name", () => {
    assert.throws(
      () => {
        registerConvictFormats([integerFormat("twin", 0, 1), integerFormat("twin", 0, 2)]);
      },
      { message: "two config formats are named twin" },
    );
  });
});
