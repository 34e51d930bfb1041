import type { DeclaredRegistry } from "../ecr/declared-registries.ts";
import { formatDuration } from "./duration.ts";
import { OPTIONS, type Settings } from "./schema.ts";

export type LogLevel = "info" | "debug";

/** The validated configuration eatr runs with. Durations are milliseconds. Frozen. */
export interface Config {
  /** Maximum age of a cached ECR token before it is refreshed (> 0). */
  readonly authTokenRenewalIntervalMs: number;
  /** Refresh a token when less than this remains before it expires (>= 0). */
  readonly tokenSafetyMarginMs: number;
  /** Credential secrets are named `<prefix>-<registry host>`. */
  readonly awsCredentialsSecretPrefix: string;
  /** Namespace holding the credential secrets (a DNS-1123 label). */
  readonly hostNamespace: string;
  /** How often every cached namespace is re-queued; 0 disables. */
  readonly informersResyncIntervalMs: number;
  /** Kubeconfig path; "" means in-cluster. */
  readonly kubeconfig: string;
  /** 0..10. */
  readonly loggingVerbosityLevel: number;
  /** Derived from loggingVerbosityLevel: 0-5 info, 6 and above debug. */
  readonly logLevel: LogLevel;
  /** 0..65535; 0 picks a free port. */
  readonly port: number;
  /** >= 0. */
  readonly shutdownGracePeriodMs: number;
  /** http(s) URL of the ECR API; "" means the SDK's regional endpoint. */
  readonly ecrEndpoint: string;
  /** http(s) URL of the ECR Public API (public.ecr.aws); "" means the SDK's us-east-1 endpoint. */
  readonly ecrPublicEndpoint: string;
  /** http(s) URL of the STS API; "" means the SDK's regional endpoint. */
  readonly stsEndpoint: string;
  /** Token file of the webIdentity source; "" means none. */
  readonly webIdentityTokenFile: string;
  /** Concurrent reconciles, 1..64. */
  readonly workers: number;
  /** Sustained API writes per second, > 0. */
  readonly kubeApiQps: number;
  /** API write burst, >= 1. */
  readonly kubeApiBurst: number;
  /** Work only while holding the leader election Lease. */
  readonly leaderElect: boolean;
  /** Name of the Lease (a DNS-1123 subdomain). */
  readonly leaderElectionId: string;
  /**
   * Namespace of the Lease, resolved: the option if set, else the POD_NAMESPACE env var if set, else
   * hostNamespace. Never empty.
   */
  readonly leaderElectionNamespace: string;
  /** Whole seconds, > leaderElectionRenewDeadlineMs. */
  readonly leaderElectionLeaseDurationMs: number;
  /** > 1.2 × leaderElectionRetryPeriodMs. */
  readonly leaderElectionRenewDeadlineMs: number;
  /** > 0. */
  readonly leaderElectionRetryPeriodMs: number;
  /** Watch ServiceAccounts and manage their imagePullSecrets: the option, or a non-empty serviceAccounts. */
  readonly manageServiceAccounts: boolean;
  /** The cluster-wide ServiceAccount selection ("", "*", or comma-separated names; parseSelection). */
  readonly serviceAccounts: string;
  /** Serve only the declared `registries`: labels for other hosts are refused with a Warning Event. */
  readonly restrictToDeclaredRegistries: boolean;
  /** The config file that was read, or "" when none was. */
  readonly configFile: string;
  /** The config file's `registries` list: per-registry credential sources (empty when none). */
  readonly registries: readonly DeclaredRegistry[];
}

/** Verbosity levels at or above this log at debug level (the original eatr's rule). */
const DEBUG_VERBOSITY = 6;

/**
 * Builds the frozen Config from validated settings. podNamespace (the POD_NAMESPACE env var, "" if unset) is
 * the Lease's namespace when leaderElectionNamespace is empty; hostNamespace when both are.
 */
export function toConfig(
  settings: Settings,
  configFile: string,
  podNamespace = "",
  registries: readonly DeclaredRegistry[] = [],
): Config {
  return Object.freeze({
    authTokenRenewalIntervalMs: settings.authTokenRenewalInterval,
    tokenSafetyMarginMs: settings.tokenSafetyMargin,
    awsCredentialsSecretPrefix: settings.awsCredentialsSecretPrefix,
    hostNamespace: settings.hostNamespace,
    informersResyncIntervalMs: settings.informersResyncInterval,
    kubeconfig: settings.kubeconfig,
    loggingVerbosityLevel: settings.loggingVerbosityLevel,
    logLevel: settings.loggingVerbosityLevel >= DEBUG_VERBOSITY ? "debug" : "info",
    port: settings.port,
    shutdownGracePeriodMs: settings.shutdownGracePeriod,
    ecrEndpoint: settings.ecrEndpoint,
    ecrPublicEndpoint: settings.ecrPublicEndpoint,
    stsEndpoint: settings.stsEndpoint,
    webIdentityTokenFile: settings.webIdentityTokenFile,
    workers: settings.workers,
    kubeApiQps: settings.kubeApiQps,
    kubeApiBurst: settings.kubeApiBurst,
    leaderElect: settings.leaderElect,
    leaderElectionId: settings.leaderElectionId,
    leaderElectionNamespace:
      settings.leaderElectionNamespace !== ""
        ? settings.leaderElectionNamespace
        : podNamespace !== ""
          ? podNamespace
          : settings.hostNamespace,
    leaderElectionLeaseDurationMs: settings.leaderElectionLeaseDuration,
    leaderElectionRenewDeadlineMs: settings.leaderElectionRenewDeadline,
    leaderElectionRetryPeriodMs: settings.leaderElectionRetryPeriod,
    manageServiceAccounts: settings.manageServiceAccounts || settings.serviceAccounts.trim() !== "",
    serviceAccounts: settings.serviceAccounts,
    restrictToDeclaredRegistries: settings.restrictToDeclaredRegistries,
    configFile,
    registries: Object.freeze([...registries]),
  });
}

function settingsOf(config: Config): Settings {
  return {
    authTokenRenewalInterval: config.authTokenRenewalIntervalMs,
    tokenSafetyMargin: config.tokenSafetyMarginMs,
    awsCredentialsSecretPrefix: config.awsCredentialsSecretPrefix,
    hostNamespace: config.hostNamespace,
    informersResyncInterval: config.informersResyncIntervalMs,
    kubeconfig: config.kubeconfig,
    loggingVerbosityLevel: config.loggingVerbosityLevel,
    port: config.port,
    shutdownGracePeriod: config.shutdownGracePeriodMs,
    ecrEndpoint: config.ecrEndpoint,
    ecrPublicEndpoint: config.ecrPublicEndpoint,
    stsEndpoint: config.stsEndpoint,
    webIdentityTokenFile: config.webIdentityTokenFile,
    workers: config.workers,
    kubeApiQps: config.kubeApiQps,
    kubeApiBurst: config.kubeApiBurst,
    leaderElect: config.leaderElect,
    leaderElectionId: config.leaderElectionId,
    leaderElectionNamespace: config.leaderElectionNamespace,
    leaderElectionLeaseDuration: config.leaderElectionLeaseDurationMs,
    leaderElectionRenewDeadline: config.leaderElectionRenewDeadlineMs,
    leaderElectionRetryPeriod: config.leaderElectionRetryPeriodMs,
    manageServiceAccounts: config.manageServiceAccounts,
    serviceAccounts: config.serviceAccounts,
    restrictToDeclaredRegistries: config.restrictToDeclaredRegistries,
  };
}

/**
 * The configuration as a plain object safe to log: keyed by config-file key, durations written as
 * Go durations ("6h"), options marked sensitive replaced by "[redacted]". leaderElectionNamespace is the
 * resolved namespace.
 */
export function redactedConfig(config: Config): Record<string, string | number | boolean> {
  const settings = settingsOf(config);
  const out: Record<string, string | number | boolean> = {};
  for (const option of OPTIONS) {
    const value = settings[option.key];
    if (option.sensitive === true) out[option.key] = "[redacted]";
    else if (option.format.typeName === "duration" && typeof value === "number") {
      out[option.key] = formatDuration(value);
    } else out[option.key] = value;
  }
  out.logLevel = config.logLevel;
  out.configFile = config.configFile;
  return out;
}
