import { Counter, Gauge, Registry } from "prom-client";

/** What one leader elector reports about itself. */
export interface ElectionMetrics {
  /** This replica started (true) or stopped (false) leading. */
  leading(on: boolean): void;
  /** A renewal had to read the lock because the cached lease was not valid or its update failed. */
  slowpath(): void;
  /** The lease holder seen by this replica changed to another identity. */
  transition(): void;
}

/** Creates the metrics of one named election. */
export interface LeaderElectionMetricsProvider {
  /** Returns the metrics for the election called name; each name may be claimed once per provider. */
  forElection(name: string): ElectionMetrics;
}

/** Metrics that record nothing, for electors built without a provider. */
export const noopElectionMetrics: ElectionMetrics = {
  leading: () => undefined,
  slowpath: () => undefined,
  transition: () => undefined,
};

export interface PrometheusLeaderElectionMetricsOptions {
  /** The registry to register on; never the global one. One provider per registry. */
  readonly registry: Registry;
}

/**
 * client-go's leader election metrics on an injected registry: `leader_election_master_status{name}`
 * (1 while leading, 0 otherwise) and `eatr_leader_election_slowpath_total{name}` (client-go's
 * leader_election_slowpath_total), plus `eatr_leader_election_transitions_total{name}`. Every series of an
 * election exists, at 0, from forElection on. Registering a second provider on the same registry throws.
 */
export class PrometheusLeaderElectionMetrics implements LeaderElectionMetricsProvider {
  private readonly status: Gauge<"name">;
  private readonly slowpaths: Counter<"name">;
  private readonly transitions: Counter<"name">;
  private readonly names = new Set<string>();

  constructor(options: PrometheusLeaderElectionMetricsOptions) {
    if (!((options.registry as unknown) instanceof Registry)) {
      throw new TypeError("PrometheusLeaderElectionMetrics: options.registry must be a prom-client Registry");
    }
    const registers = [options.registry];
    this.status = new Gauge({
      name: "leader_election_master_status",
      help: "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master. 'name' is the string used to identify the lease.",
      labelNames: ["name"],
      registers,
    });
    this.slowpaths = new Counter({
      name: "eatr_leader_election_slowpath_total",
      help: "Renewals of a held lease that had to read it first because the cached lease was not valid or its update failed.",
      labelNames: ["name"],
      registers,
    });
    this.transitions = new Counter({
      name: "eatr_leader_election_transitions_total",
      help: "Times the lease holder seen by this replica changed to another identity.",
      labelNames: ["name"],
      registers,
    });
  }

  forElection(name: string): ElectionMetrics {
    if (name === "") throw new RangeError("PrometheusLeaderElectionMetrics: an election needs a name");
    if (this.names.has(name)) {
      throw new RangeError(`PrometheusLeaderElectionMetrics: an election named "${name}" already reports`);
    }
    this.names.add(name);
    const labels = { name };
    this.status.set(labels, 0);
    this.slowpaths.inc(labels, 0);
    this.transitions.inc(labels, 0);
    return {
      leading: (on) => {
        this.status.set(labels, on ? 1 : 0);
      },
      slowpath: () => {
        this.slowpaths.inc(labels);
      },
      transition: () => {
        this.transitions.inc(labels);
      },
    };
  }
}
