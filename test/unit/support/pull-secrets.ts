/** Pull secrets for the tests of src/domain/pull-secret.ts and src/reconcilers/verdict.ts. */
import assert from "node:assert/strict";
import type { V1Secret } from "@kubernetes/client-node";
import { buildPullSecret } from "../../../src/domain/pull-secret.ts";
import { parseRegistryHost } from "../../../src/ecr/registry-host.ts";

export const HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
export const registry = parseRegistryHost(HOST) ?? assert.fail("host");
export const b64 = (s: string) => Buffer.from(s).toString("base64");
export const token = (password: string) => b64(`AWS:${password}`);
export const T0 = Date.UTC(2026, 10, 28, 12);

/** expiresAtMs null = ECR gave no expiry. */
export const desired = (password = "p1", expiresAtMs: number | null = T0 + 12 * 3_600_000) =>
  buildPullSecret({
    namespace: "team-a",
    registry,
    authorizationToken: token(password),
    fetchedAtMs: T0,
    expiresAtMs: expiresAtMs ?? undefined,
    credentialsVersion: "abc",
  });

/** What the API server returns: our object plus server-set metadata and someone else's label. */
export const stored = (s: V1Secret, extra: Record<string, string> = { team: "a" }): V1Secret => ({
  ...s,
  metadata: {
    ...s.metadata,
    uid: "u1",
    resourceVersion: "41",
    labels: { ...(s.metadata?.labels ?? {}), ...extra },
  },
});

export const seedSecret = (dockerconfig: unknown, type = "kubernetes.io/dockerconfigjson"): V1Secret => ({
  metadata: { name: HOST, namespace: "team-a", uid: "u2", resourceVersion: "7" },
  type,
  data: { ".dockerconfigjson": b64(JSON.stringify(dockerconfig)) },
});
