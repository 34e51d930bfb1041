import { CONFIG_FILE_OPTION, OPTION_SPECS, type OptionKey } from "../config/schema.ts";

/** The controller options status reads, in help order. */
export const STATUS_OPTION_KEYS = [
  "kubeconfig",
  "hostNamespace",
  "awsCredentialsSecretPrefix",
  "tokenSafetyMargin",
  "leaderElectionId",
  "leaderElectionNamespace",
] as const satisfies readonly OptionKey[];

/** The `eatr status --help` text, with the options generated from the controller's option table. */
export function statusHelpText(): string {
  const option = (usage: string, doc: string, more: string) =>
    [`  ${usage}`, `        ${doc}`, `        ${more}`].join("\n");
  return [
    "Usage: eatr status [flags]",
    "",
    "Reports, read-only, whether every namespace that asks for an ECR registry has a current pull secret:",
    "per registry the credential source, the earliest token expiry and how many namespaces ask, are",
    "served, are in conflict (a secret of that name that is not eatr's) or lack credentials; then each",
    "namespace with a problem, and the leader election Lease. It reads the cluster's own objects",
    "(Namespaces, eatr's pull secrets, the credential secrets' key names, eatr's Warning Events, the",
    "Lease) with your kubeconfig; it never calls AWS and never prints a secret value.",
    "",
    "Exit codes: 0 healthy; 1 a namespace's pull secret is missing, in conflict, expired or expiring",
    "within -token-safety-margin, or its registry lacks credentials; 2 bad flags, configuration or",
    "kubeconfig, or the API server could not be read.",
    "",
    option(
      "-o table|json",
      "Output format: a table for people, or JSON for scripts (README: eatr status).",
      'default "table"; also -output',
    ),
    ...STATUS_OPTION_KEYS.map((key) => {
      const spec = OPTION_SPECS[key];
      const envs = spec.envFallback === undefined ? spec.env : `${spec.env} (or ${spec.envFallback})`;
      return option(
        `-${spec.flag} ${spec.format.typeName}`,
        spec.doc,
        `default ${spec.format.typeName === "string" ? JSON.stringify(spec.default) : spec.default}; env ${envs}; file key ${key}`,
      );
    }),
    option(
      `-${CONFIG_FILE_OPTION.flag} path`,
      `${CONFIG_FILE_OPTION.doc} Its registries list declares credential sources.`,
      `default ""; env ${CONFIG_FILE_OPTION.env}`,
    ),
    "  -h, -help",
    "        Show this help and exit.",
    "",
    "Give status the same options as the controller (the same env vars or config file work) so that it",
    "looks where the controller writes.",
    "",
  ].join("\n");
}
