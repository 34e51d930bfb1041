import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1ServiceAccount } from "@kubernetes/client-node";
import {
  ADDED_ANNOTATION,
  IGNORE_ANNOTATION,
  SERVICE_ACCOUNTS_ANNOTATION,
} from "../../../src/domain/service-accounts.ts";
import {
  InternPool,
  relevantServiceAccount,
  trimNamespace,
  trimServiceAccount,
} from "../../../src/informers/sources.ts";

const A = "111111111111.dkr.ecr.eu-west-1.amazonaws.com";

void describe("trimming for the ServiceAccount feature", () => {
  void it("a cached Namespace keeps eatr/service-accounts and no other annotation", () => {
    const pool = new InternPool();
    const ns = trimNamespace(
      {
        metadata: {
          name: "team",
          labels: { [A]: "true", team: "x" },
          annotations: {
            [SERVICE_ACCOUNTS_ANNOTATION]: "default",
            "kubectl.kubernetes.io/last-applied": "{}",
          },
        },
      },
      pool,
    );
    assert.deepEqual(ns.metadata?.annotations, { [SERVICE_ACCOUNTS_ANNOTATION]: "default" });
    assert.deepEqual(ns.metadata?.labels, { [A]: "true" });
    const plain = trimNamespace({ metadata: { name: "plain", annotations: { other: "x" } } }, pool);
    assert.equal(plain.metadata?.annotations, undefined);
  });

  void it("a cached ServiceAccount keeps only what reconciles read", () => {
    const sa = trimServiceAccount(
      {
        metadata: {
          name: "default",
          namespace: "team",
          uid: "u",
          resourceVersion: "9",
          labels: { app: "x" },
          managedFields: [{ manager: "kubectl" }],
          annotations: { [ADDED_ANNOTATION]: A, [IGNORE_ANNOTATION]: "true", "helm.sh/x": "y" },
        },
        secrets: [{ name: "token" }],
        automountServiceAccountToken: false,
        imagePullSecrets: [{ name: "mine" }, { name: A }],
      },
      new InternPool(),
    );
    assert.deepEqual(sa, {
      metadata: {
        name: "default",
        namespace: "team",
        uid: "u",
        resourceVersion: "9",
        annotations: { [IGNORE_ANNOTATION]: "true", [ADDED_ANNOTATION]: A },
      },
      imagePullSecrets: [{ name: "mine" }, { name: A }],
    });
  });

  void it("an update queues the namespace only when imagePullSecrets or eatr's annotations changed", () => {
    const pool = new InternPool();
    const base: V1ServiceAccount = {
      metadata: {
        name: "default",
        namespace: "team",
        resourceVersion: "1",
        annotations: { [ADDED_ANNOTATION]: A },
      },
      imagePullSecrets: [{ name: "mine" }, { name: A }],
    };
    const print = (sa: V1ServiceAccount) => relevantServiceAccount(trimServiceAccount(sa, pool));
    const same = print(base);
    const unrelated = {
      ...base,
      metadata: {
        ...base.metadata,
        resourceVersion: "2",
        labels: { app: "x" },
        annotations: { [ADDED_ANNOTATION]: A, other: "y" },
      },
      secrets: [{ name: "token" }],
    };
    assert.equal(print(unrelated), same, "labels, other annotations, secrets: not queued");
    assert.notEqual(print({ ...base, imagePullSecrets: [{ name: A }, { name: "mine" }] }), same, "reordered");
    assert.notEqual(print({ ...base, imagePullSecrets: [{ name: "mine" }] }), same, "an entry removed");
    assert.notEqual(
      print({
        ...base,
        metadata: { ...base.metadata, annotations: { [IGNORE_ANNOTATION]: "true", [ADDED_ANNOTATION]: A } },
      }),
      same,
      "ignored",
    );
    assert.notEqual(
      print({ ...base, metadata: { ...base.metadata, annotations: {} } }),
      same,
      "eatr's record removed",
    );
  });
});
