export interface RegistryRenewalsOptions {
  /** The namespaces that ask for a registry now. */
  readonly usersOf: (registry: string) => readonly string[];
  readonly enqueue: (namespace: string) => void;
  /** Drops the registry's token and everything reported about it. */
  readonly forget: (registry: string) => void;
}

/**
 * What happens when the token cache says a registry's token is due (or a fetch settled): its namespaces
 * are reconciled, which renews or writes the token. A registry nobody uses any more is forgotten instead
 * of renewed, so no ECR call is made and no expiry alert fires for a token nothing depends on.
 */
export class RegistryRenewals {
  private readonly o: RegistryRenewalsOptions;

  constructor(options: RegistryRenewalsOptions) {
    this.o = options;
  }

  /** The registry's token is due for refresh, or its failure backoff ended. */
  due(registry: string): void {
    const users = this.o.usersOf(registry);
    if (users.length === 0) {
      this.o.forget(registry);
      return;
    }
    for (const ns of users) this.o.enqueue(ns);
  }

  /** A fetch of the registry's token ended: the namespaces waiting for it are reconciled. */
  settled(registry: string): void {
    for (const ns of this.o.usersOf(registry)) this.o.enqueue(ns);
  }
}
