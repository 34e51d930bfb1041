/**
 * Where a registry's AWS credentials come from and what stops them, from the credential secret's key names,
 * the config file's registries entry and eatr's Warning Events on the secret. Pure.
 */
import { CREDENTIAL_KEYS, credentialSecretName, type CredentialSourceKind } from "../ecr/credentials.ts";
import type { DeclaredRegistry } from "../ecr/declared-registries.ts";
import type { ClusterSnapshot, CredentialSecretFacts, WarningEventFacts } from "./snapshot.ts";

/** Where the credential secrets are: the controller's -host-namespace and -aws-credentials-secret-prefix. */
export interface CredentialSettings {
  readonly hostNamespace: string;
  readonly credentialsSecretPrefix: string;
}

/** Why a registry's credentials cannot be used. */
export interface CredentialsProblem {
  readonly reason: "missing" | "invalid" | "failed";
  readonly detail: string;
}

/** Where a registry's AWS credentials come from, as far as the cluster's objects and the config tell. */
export interface RegistryCredentials {
  /** The credential source; null when there is none that could work. */
  readonly source: CredentialSourceKind | null;
  /** What selects it: the credential secret, the config file's registries entry, or both. */
  readonly from: "secret" | "declared" | "secret+declared" | null;
  /** The credential secret, `<host namespace>/<name>`: where it is or should be. */
  readonly secret: string;
  /** The credential secret's data key names (never values); empty without one. */
  readonly keys: readonly string[];
  readonly problem: CredentialsProblem | null;
}

/** The credential source the secret's key names (and the registries entry) select, and what stops it. */
export function credentialsOf(
  host: string,
  snapshot: ClusterSnapshot,
  settings: CredentialSettings,
  entry: DeclaredRegistry | undefined,
  tokenFetchedAtMs: number | undefined,
): RegistryCredentials {
  const where = `${settings.hostNamespace}/${credentialSecretName(settings.credentialsSecretPrefix, host)}`;
  const secret = snapshot.credentialSecrets.get(host);
  if (secret === undefined) {
    if (entry !== undefined && entry.source !== "keys")
      return { source: entry.source, from: "declared", secret: where, keys: [], problem: null };
    const why =
      entry === undefined
        ? "and the registry is not declared in the config file's registries"
        : "(its registries entry says source keys, which needs it)";
    return {
      source: null,
      from: null,
      secret: where,
      keys: [],
      problem: { reason: "missing", detail: `no credential secret ${where} ${why}` },
    };
  }
  const selected = sourceOfKeys(secret, entry, where);
  const from = selected.fromDeclaration ? "secret+declared" : "secret";
  if ("problem" in selected)
    return { source: null, from, secret: where, keys: secret.keys, problem: selected.problem };
  return {
    source: selected.source,
    from,
    secret: where,
    keys: secret.keys,
    problem: eventProblem(secret, snapshot.events, tokenFetchedAtMs),
  };
}

/** The source a credential secret selects by its key names alone (names only: values are never read). */
function sourceOfKeys(
  secret: CredentialSecretFacts,
  entry: DeclaredRegistry | undefined,
  where: string,
): ({ source: CredentialSourceKind } | { problem: CredentialsProblem }) & { fromDeclaration: boolean } {
  const has = (key: string) => secret.keys.includes(key);
  const staticKeys = [CREDENTIAL_KEYS.accessKeyId, CREDENTIAL_KEYS.secretAccessKey];
  const invalid = (detail: string) => ({
    problem: { reason: "invalid" as const, detail: `credential secret ${where} ${detail}` },
    fromDeclaration: false,
  });
  if (secret.webIdentity) {
    if (!has(CREDENTIAL_KEYS.roleArn))
      return invalid(`sets ${CREDENTIAL_KEYS.webIdentity} but has no key ${CREDENTIAL_KEYS.roleArn}`);
    if ([...staticKeys, CREDENTIAL_KEYS.sessionToken].some(has))
      return invalid(`sets ${CREDENTIAL_KEYS.webIdentity}, so its keys are not used: remove them`);
    return { source: "webIdentity", fromDeclaration: false };
  }
  const missing = staticKeys.filter((key) => !has(key));
  if (has(CREDENTIAL_KEYS.roleArn)) {
    if (missing.length === 1) return invalid(`has no key ${missing[0] ?? ""}`);
    return { source: "assumeRole", fromDeclaration: false };
  }
  if (missing.length > 0)
    return invalid(`has no key ${missing.join(" or ")} (nor ${CREDENTIAL_KEYS.roleArn} to assume a role)`);
  return entry?.source === "assumeRole"
    ? { source: "assumeRole", fromDeclaration: true }
    : { source: "keys", fromDeclaration: false };
}

/**
 * The newest InvalidCredentials or TokenRequestFailed Event on the credential secret that still holds: raised
 * no earlier than the second the secret last changed (an Event about the new content may come within that
 * second) and, for a failed request, in a later second than the newest token was fetched (after a failure
 * eatr retries no sooner than 1 s later). Event and managedFields times are whole seconds.
 */
function eventProblem(
  secret: CredentialSecretFacts,
  events: readonly WarningEventFacts[],
  tokenFetchedAtMs: number | undefined,
): CredentialsProblem | null {
  const second = (ms: number) => Math.floor(ms / 1000) * 1000;
  const changed = second(secret.changedAtMs ?? -Infinity);
  const fetched = second(tokenFetchedAtMs ?? -Infinity);
  const newest = (reason: string, holds: (lastSeenMs: number) => boolean) =>
    events
      .filter(
        (e) =>
          e.reason === reason &&
          e.kind === "Secret" &&
          e.namespace === secret.namespace &&
          e.name === secret.name &&
          holds(e.lastSeenMs),
      )
      .sort((a, b) => b.lastSeenMs - a.lastSeenMs)[0];
  const invalid = newest("InvalidCredentials", (t) => t >= changed);
  if (invalid !== undefined) return { reason: "invalid", detail: eventText(invalid) };
  const failed = newest("TokenRequestFailed", (t) => t >= changed && t > fetched);
  if (failed !== undefined) return { reason: "failed", detail: eventText(failed) };
  return null;
}

function eventText(event: WarningEventFacts): string {
  const times = event.count > 1 ? `, ${event.count} times` : "";
  return `${event.reason} Event (${new Date(event.lastSeenMs).toISOString().replace(".000Z", "Z")}${times}): ${event.message}`;
}
