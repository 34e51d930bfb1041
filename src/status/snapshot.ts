/**
 * What `eatr status` reads from the cluster, reduced to plain facts: names, labels, annotations, key names
 * and times. No secret value is ever part of a snapshot, so nothing downstream can print one.
 */

/** A Namespace: its labels say which registries it asks for. */
export interface NamespaceFacts {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Being deleted (deletionTimestamp set): eatr skips it, and so does status. */
  readonly terminating: boolean;
}

/** A Secret named after a registry host in a namespace: eatr's pull secret, or someone else's of that name. */
export interface PullSecretFacts {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  /** Carries app.kubernetes.io/managed-by=eatr. */
  readonly managed: boolean;
  readonly annotations: Readonly<Record<string, string>>;
}

/** A credential secret in the host namespace: the names of its data keys only. */
export interface CredentialSecretFacts {
  readonly namespace: string;
  readonly name: string;
  /** Data key names, sorted. */
  readonly keys: readonly string[];
  /** aws_web_identity is "true" (a switch, not a credential). */
  readonly webIdentity: boolean;
  /** When its content last changed (the newest managedFields time, else its creation), ms; undefined if unknown. */
  readonly changedAtMs: number | undefined;
}

/** A Warning Event eatr raised (the reasons status looks at; README "Events"). */
export interface WarningEventFacts {
  /** The Event's namespace (the involved object's). */
  readonly namespace: string;
  readonly reason: string;
  /** The involved object's kind, name and uid. */
  readonly kind: string;
  readonly name: string;
  readonly uid: string;
  /** Carries no secret (eatr's rule for every Event). */
  readonly message: string;
  readonly count: number;
  /** lastTimestamp (or eventTime, or firstTimestamp), ms. */
  readonly lastSeenMs: number;
}

/** The leader election Lease of the installation. */
export interface LeaseFacts {
  readonly namespace: string;
  readonly name: string;
  /** Empty or undefined: released, nobody leads. */
  readonly holder: string | undefined;
  readonly renewTimeMs: number | undefined;
  readonly leaseDurationSeconds: number | undefined;
}

/** Everything status summarises, read at one moment. */
export interface ClusterSnapshot {
  readonly namespaces: readonly NamespaceFacts[];
  /** eatr's pull secrets (by label), plus same-named secrets found for wanted ones that had none. */
  readonly pullSecrets: readonly PullSecretFacts[];
  /** By registry host; a host absent here has no credential secret. */
  readonly credentialSecrets: ReadonlyMap<string, CredentialSecretFacts>;
  readonly events: readonly WarningEventFacts[];
  /** undefined: the Lease does not exist; null: leader election is off (-leader-elect=false). */
  readonly lease: LeaseFacts | undefined | null;
  /** What could not be read and is left out (Events the user may not list), one line each. */
  readonly notes: readonly string[];
}
