import { requestedRegistries } from "../domain/registry-labels.ts";
import type { RegistryHost } from "../ecr/registry-host.ts";
import type { NamespaceFacts } from "./snapshot.ts";

/**
 * The registries a namespace wants a pull secret for, as the controller decides it. The one place status
 * asks: today the namespace's registry labels (requestedRegistries); a registry policy that selects
 * namespaces is wired in here.
 */
export function wantedRegistries(ns: NamespaceFacts): RegistryHost[] {
  return requestedRegistries({ metadata: { name: ns.name, labels: { ...ns.labels } } });
}
