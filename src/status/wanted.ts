import { RegistryPolicy } from "../domain/registry-policy.ts";
import type { DeclaredRegistry } from "../ecr/declared-registries.ts";
import type { RegistryHost } from "../ecr/registry-host.ts";
import type { NamespaceFacts } from "./snapshot.ts";

/**
 * The registry policy status judges by: the controller's (src/domain/registry-policy.ts), from the same
 * declared registries and -restrict-to-declared-registries, so status and the controller never disagree on
 * what a namespace wants.
 */
export function statusPolicy(
  registries: readonly DeclaredRegistry[],
  restrictToDeclared = false,
): Pick<RegistryPolicy, "wanted"> {
  return new RegistryPolicy({ registries, restrictToDeclared });
}

/**
 * The registries a namespace wants a pull secret for, as the controller decides it: its registry labels,
 * and the declared registries' namespaceSelector / excludeNamespaces. The one place status asks.
 */
export function wantedRegistries(
  ns: NamespaceFacts,
  policy: Pick<RegistryPolicy, "wanted">,
): readonly RegistryHost[] {
  return policy.wanted({ metadata: { name: ns.name, labels: { ...ns.labels } } });
}
