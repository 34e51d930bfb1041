/** Small builders of status snapshots for the unit tests. */
import type {
  ClusterSnapshot,
  CredentialSecretFacts,
  NamespaceFacts,
  PullSecretFacts,
  WarningEventFacts,
} from "../../../src/status/snapshot.ts";
import type { StatusSettings } from "../../../src/status/summary.ts";

export const NOW = Date.UTC(2026, 11, 2, 12, 0, 0);
export const HOUR = 3_600_000;
export const A = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
export const B = "210987654321.dkr.ecr.us-east-1.amazonaws.com";
export const HOST_NS = "ci-cd";

export const SETTINGS: StatusSettings = {
  hostNamespace: HOST_NS,
  credentialsSecretPrefix: "eatr-aws-credentials",
  tokenSafetyMarginMs: HOUR,
  registries: [],
  installation: "ci-cd/eatr",
};

export function ns(name: string, hosts: readonly string[], terminating = false): NamespaceFacts {
  return { name, labels: Object.fromEntries(hosts.map((h) => [h, "true"])), terminating };
}

/** eatr's pull secret for host in namespace, its token expiring at expiresAtMs. */
export function pull(
  namespace: string,
  host: string,
  expiresAtMs: number | undefined = NOW + 11 * HOUR,
  extra: Partial<PullSecretFacts> = {},
): PullSecretFacts {
  return {
    namespace,
    name: host,
    uid: `uid-${namespace}`,
    managed: true,
    annotations: {
      "eatr/registry": host,
      "eatr/token-fetched-at": new Date(NOW - HOUR).toISOString(),
      ...(expiresAtMs === undefined ? {} : { "eatr/token-expires-at": new Date(expiresAtMs).toISOString() }),
      "eatr/installation": "ci-cd/eatr",
    },
    ...extra,
  };
}

export function credential(
  host: string,
  keys: readonly string[] = ["aws_access_key_id", "aws_secret_access_key"],
  extra: Partial<CredentialSecretFacts> = {},
): [string, CredentialSecretFacts] {
  return [
    host,
    {
      namespace: HOST_NS,
      name: `eatr-aws-credentials-${host}`,
      keys: [...keys].sort(),
      webIdentity: false,
      changedAtMs: NOW - 2 * HOUR,
      ...extra,
    },
  ];
}

export function event(
  reason: string,
  name: string,
  namespace: string,
  lastSeenMs: number,
  uid = "",
): WarningEventFacts {
  return {
    namespace,
    reason,
    kind: "Secret",
    name,
    uid,
    message: `${reason} happened.`,
    count: 1,
    lastSeenMs,
  };
}

export function snapshot(parts: Partial<ClusterSnapshot> = {}): ClusterSnapshot {
  return {
    namespaces: parts.namespaces ?? [],
    pullSecrets: parts.pullSecrets ?? [],
    credentialSecrets: parts.credentialSecrets ?? new Map(),
    events: parts.events ?? [],
    lease:
      "lease" in parts
        ? parts.lease
        : {
            namespace: HOST_NS,
            name: "eatr",
            holder: "eatr-abc",
            renewTimeMs: NOW - 2000,
            leaseDurationSeconds: 15,
          },
    notes: parts.notes ?? [],
  };
}
