import type convict from "convict";
import {
  dnsLabel,
  dnsSubdomain,
  duration,
  endpointUrl,
  filePath,
  goBool,
  integerFormat,
  optionalDnsLabel,
  positiveDuration,
  positiveNumber,
  renewalInterval,
  safetyMargin,
  secretNamePrefix,
  tcpPort,
  wholeSecondsDuration,
  type ValueFormat,
} from "./formats.ts";
import { parseSelection, SELECTION_EXPECTED } from "../domain/service-accounts.ts";

/** A ServiceAccount selection (parseSelection): "", "*", or comma-separated ServiceAccount names. */
const serviceAccountSelection: ValueFormat<string> = {
  name: "service-account-selection",
  typeName: "string",
  valueType: "string",
  expected: SELECTION_EXPECTED,
  parse(text) {
    const parsed = parseSelection(text);
    return "error" in parsed ? { ok: false, expected: SELECTION_EXPECTED } : { ok: true, value: text };
  },
};

/** The settings as convict holds them after validation; durations are in milliseconds. */
export interface Settings {
  authTokenRenewalInterval: number;
  tokenSafetyMargin: number;
  awsCredentialsSecretPrefix: string;
  hostNamespace: string;
  informersResyncInterval: number;
  kubeconfig: string;
  loggingVerbosityLevel: number;
  port: number;
  shutdownGracePeriod: number;
  ecrEndpoint: string;
  ecrPublicEndpoint: string;
  stsEndpoint: string;
  webIdentityTokenFile: string;
  workers: number;
  kubeApiQps: number;
  kubeApiBurst: number;
  leaderElect: boolean;
  leaderElectionId: string;
  leaderElectionNamespace: string;
  leaderElectionLeaseDuration: number;
  leaderElectionRenewDeadline: number;
  leaderElectionRetryPeriod: number;
  manageServiceAccounts: boolean;
  serviceAccounts: string;
  restrictToDeclaredRegistries: boolean;
}

/** A setting's name: its config-file key. */
export type OptionKey = keyof Settings;

/** Everything known about one setting besides its key. */
export interface OptionSpec<T extends number | string | boolean> {
  /** Flag name without dashes: the original Go eatr's spelling. */
  readonly flag: string;
  readonly env: string;
  /** A second env var read when `env` is not set at all. */
  readonly envFallback?: string;
  /** The default, written as a user would write it. */
  readonly default: string;
  readonly format: ValueFormat<T>;
  readonly doc: string;
  /** Hidden in error messages and in redactedConfig. */
  readonly sensitive?: boolean;
}

/** Every setting, in help order. The mapped type makes a setting missing from this table a type error. */
export const OPTION_SPECS: { readonly [K in OptionKey]: OptionSpec<Settings[K]> } = {
  authTokenRenewalInterval: {
    flag: "auth-token-renewal-interval",
    env: "EATR_AUTH_TOKEN_RENEWAL_INTERVAL",
    default: "6h",
    format: renewalInterval,
    doc: "Maximum age of a cached ECR token before it is refreshed; at least 20s.",
  },
  tokenSafetyMargin: {
    flag: "token-safety-margin",
    env: "EATR_TOKEN_SAFETY_MARGIN",
    default: "1h",
    format: safetyMargin,
    doc: "Refresh a token when less than this remains before it expires; below 12h, an ECR token's life.",
  },
  awsCredentialsSecretPrefix: {
    flag: "aws-credentials-secret-prefix",
    env: "EATR_AWS_CREDENTIALS_SECRET_PREFIX",
    default: "eatr-aws-credentials",
    format: secretNamePrefix,
    doc: "Credential secrets are named <prefix>-<registry host>.",
  },
  hostNamespace: {
    flag: "host-namespace",
    env: "EATR_HOST_NAMESPACE",
    default: "ci-cd",
    format: dnsLabel,
    doc: "Namespace holding the AWS credential secrets.",
  },
  informersResyncInterval: {
    flag: "informers-resync-interval",
    env: "EATR_INFORMERS_RESYNC_INTERVAL",
    default: "5m",
    format: duration,
    doc: "How often every cached namespace is re-queued (no API calls unless something drifted); 0 disables.",
  },
  kubeconfig: {
    flag: "config-file-path",
    env: "EATR_KUBECONFIG",
    envFallback: "KUBECONFIG",
    default: "",
    format: filePath,
    doc: "Path of a kubeconfig file; empty means the in-cluster configuration.",
  },
  loggingVerbosityLevel: {
    flag: "logging-verbosity-level",
    env: "EATR_LOGGING_VERBOSITY_LEVEL",
    default: "0",
    format: integerFormat("verbosity-level", 0, 10),
    doc: "Log verbosity from 0 to 10: 0-5 log at info level, 6 and above at debug level.",
  },
  port: {
    flag: "port",
    env: "EATR_PORT",
    default: "5000",
    format: tcpPort,
    doc: "HTTP port for /metrics, /healthz and /readyz; 0 picks a free port.",
  },
  shutdownGracePeriod: {
    flag: "shutdown-grace-period",
    env: "EATR_SHUTDOWN_GRACE_PERIOD",
    default: "3s",
    format: duration,
    doc: "How long to let in-flight work finish after SIGTERM before exiting.",
  },
  ecrEndpoint: {
    flag: "ecr-endpoint",
    env: "EATR_ECR_ENDPOINT",
    default: "",
    format: endpointUrl,
    doc: "ECR API endpoint URL (VPC endpoints, proxies, tests); empty means the SDK's regional endpoint.",
  },
  ecrPublicEndpoint: {
    flag: "ecr-public-endpoint",
    env: "EATR_ECR_PUBLIC_ENDPOINT",
    default: "",
    format: endpointUrl,
    doc: "ECR Public API endpoint URL for public.ecr.aws (proxies, tests); empty means the SDK's us-east-1 endpoint.",
  },
  stsEndpoint: {
    flag: "sts-endpoint",
    env: "EATR_STS_ENDPOINT",
    default: "",
    format: endpointUrl,
    doc: "STS API endpoint URL for assumed roles and web identity; empty means the SDK's regional endpoint.",
  },
  webIdentityTokenFile: {
    flag: "web-identity-token-file",
    env: "EATR_WEB_IDENTITY_TOKEN_FILE",
    envFallback: "AWS_WEB_IDENTITY_TOKEN_FILE",
    default: "",
    format: filePath,
    doc: "Projected ServiceAccount token that registries with source webIdentity exchange for their role; re-read before every STS call.",
  },
  workers: {
    flag: "workers",
    env: "EATR_WORKERS",
    default: "4",
    format: integerFormat("worker-count", 1, 64),
    doc: "Number of namespaces reconciled concurrently, from 1 to 64.",
  },
  kubeApiQps: {
    flag: "kube-api-qps",
    env: "EATR_KUBE_API_QPS",
    default: "200",
    format: positiveNumber,
    doc: "Maximum sustained writes per second to the Kubernetes API server (pull secrets, Events, ServiceAccounts; never Lease renewals); lower while the server answers 429.",
  },
  kubeApiBurst: {
    flag: "kube-api-burst",
    env: "EATR_KUBE_API_BURST",
    default: "1000",
    format: integerFormat("burst", 1, Number.MAX_SAFE_INTEGER),
    doc: "Writes allowed in a burst above kube-api-qps.",
  },
  leaderElect: {
    flag: "leader-elect",
    env: "EATR_LEADER_ELECT",
    default: "true",
    format: goBool,
    doc: "Only the replica holding the leader election Lease works; the others stand by to take over.",
  },
  leaderElectionId: {
    flag: "leader-election-id",
    env: "EATR_LEADER_ELECTION_ID",
    default: "eatr",
    format: dnsSubdomain,
    doc: "Name of the leader election Lease.",
  },
  leaderElectionNamespace: {
    flag: "leader-election-namespace",
    env: "EATR_LEADER_ELECTION_NAMESPACE",
    default: "",
    format: optionalDnsLabel,
    doc: "Namespace of the Lease; empty means POD_NAMESPACE if set, else host-namespace.",
  },
  leaderElectionLeaseDuration: {
    flag: "leader-election-lease-duration",
    env: "EATR_LEADER_ELECTION_LEASE_DURATION",
    default: "15s",
    format: wholeSecondsDuration,
    doc: "How long standbys wait, from when they last saw the Lease renewed, before taking it over.",
  },
  leaderElectionRenewDeadline: {
    flag: "leader-election-renew-deadline",
    env: "EATR_LEADER_ELECTION_RENEW_DEADLINE",
    default: "10s",
    format: positiveDuration,
    doc: "The leader gives up (and exits) when it could not renew the Lease for this long.",
  },
  leaderElectionRetryPeriod: {
    flag: "leader-election-retry-period",
    env: "EATR_LEADER_ELECTION_RETRY_PERIOD",
    default: "2s",
    format: positiveDuration,
    doc: "Time between Lease acquire/renew attempts; lease > renew deadline > 1.2 × this.",
  },
  manageServiceAccounts: {
    flag: "manage-service-accounts",
    env: "EATR_MANAGE_SERVICE_ACCOUNTS",
    default: "false",
    format: goBool,
    doc: "Watch ServiceAccounts and add pull secrets to those selected (README: ServiceAccounts); needs RBAC on them.",
  },
  serviceAccounts: {
    flag: "service-accounts",
    env: "EATR_SERVICE_ACCOUNTS",
    default: "",
    format: serviceAccountSelection,
    doc: "Selection (default, * or names a,b) where eatr/service-accounts is unset; non-empty turns the feature on.",
  },
  restrictToDeclaredRegistries: {
    flag: "restrict-to-declared-registries",
    env: "EATR_RESTRICT_TO_DECLARED_REGISTRIES",
    default: "false",
    format: goBool,
    doc: "Serve only the config file's registries list; labels for other hosts get a Warning Event (README: Least privilege).",
  },
};

/** A setting with its key. */
export type Option =
  | (OptionSpec<number> & { readonly key: OptionKey })
  | (OptionSpec<string> & { readonly key: OptionKey })
  | (OptionSpec<boolean> & { readonly key: OptionKey });

/** Every setting with its key, in help order. */
export const OPTIONS: readonly Option[] = (Object.keys(OPTION_SPECS) as OptionKey[]).map((key): Option => ({
  key,
  ...OPTION_SPECS[key],
}));

/** True when `key` names a setting (a config-file key). */
export function isOptionKey(key: string): key is OptionKey {
  return Object.hasOwn(OPTION_SPECS, key);
}

/** The option naming the config file itself: a flag and an env var, but not a file key. */
export const CONFIG_FILE_OPTION = {
  flag: "config",
  env: "EATR_CONFIG_FILE",
  default: "",
  doc: "Read settings from this JSON (.json) or YAML (.yaml, .yml) file; empty means no file.",
} as const;

/**
 * The convict schema. It names the env var of each setting (convict reads it from the env object it is
 * given) but no command-line argument: flags follow Go's syntax, which convict's parser does not.
 */
export function convictSchema(): convict.Schema<Settings> {
  const schema: Partial<Record<OptionKey, convict.SchemaObj>> = {};
  for (const option of OPTIONS) {
    schema[option.key] = {
      default: option.default,
      format: option.format.name,
      env: option.env,
      doc: option.doc,
      sensitive: option.sensitive === true,
    };
  }
  return schema as convict.Schema<Settings>;
}

/** One row of the options table (help text, README). */
export interface OptionDescription {
  /** Config-file key; "configFile" for the config file option, which is not itself a file key. */
  readonly key: string;
  /** Flag name without dashes; `-flag` and `--flag` both work. */
  readonly flag: string;
  readonly env: string;
  readonly envFallback?: string;
  /** The default as a user would write it. */
  readonly default: string;
  /** Kind of value: bool, duration, int, number, string or url. */
  readonly type: string;
  readonly doc: string;
}

/** Every option, including the config file option last, for generating help and documentation. */
export function describeOptions(): OptionDescription[] {
  const rows: OptionDescription[] = OPTIONS.map((option) => ({
    key: option.key,
    flag: option.flag,
    env: option.env,
    ...(option.envFallback === undefined ? {} : { envFallback: option.envFallback }),
    default: option.default,
    type: option.format.typeName,
    doc: option.doc,
  }));
  rows.push({
    key: "configFile",
    flag: CONFIG_FILE_OPTION.flag,
    env: CONFIG_FILE_OPTION.env,
    default: CONFIG_FILE_OPTION.default,
    type: "path",
    doc: CONFIG_FILE_OPTION.doc,
  });
  return rows;
}
