/**
 * Which registries a namespace gets, from its labels and the declared registries' policy. Precedence, per
 * registry host:
 *   1. A namespace label for the host decides: `"true"` opts in (the seed's contract), any other value
 *      opts out, even where a namespaceSelector matches.
 *   2. Without such a label, a declared registry's namespaceSelector that matches the namespace's labels
 *      opts it in, unless the namespace's name is in that entry's excludeNamespaces (names and `*` globs).
 *   3. With restrictToDeclared, only declared hosts are served: a `"true"` label for any other host is
 *      refused (reported as undeclared), and eatr touches no secret of an undeclared host.
 * Pure: no I/O, no clock.
 */
import type { V1Namespace } from "@kubernetes/client-node";
import { parseRegistryHost, type RegistryHost } from "../ecr/registry-host.ts";
import { selectorKeys, selectorMatches, type LabelSelector } from "./label-selector.ts";
import { compileNamePatterns } from "./name-pattern.ts";
import { OPT_IN_VALUE } from "./registry-labels.ts";

/** What the policy reads of a declared registry (DeclaredRegistry has these fields). */
export interface RegistryServing {
  readonly host: string;
  /** Namespaces whose labels match get the registry without a label of their own. */
  readonly namespaceSelector?: LabelSelector;
  /** Names and `*` globs of namespaces the selector never serves (a `"true"` label still does). */
  readonly excludeNamespaces?: readonly string[];
}

export interface RegistryPolicyOptions {
  readonly registries: readonly RegistryServing[];
  /** -restrict-to-declared-registries: serve only the declared hosts. */
  readonly restrictToDeclared: boolean;
}

/** A namespace's registries under the policy. */
export interface Wants {
  /** Registries to serve, in label order, then in declaration order. */
  readonly wanted: readonly RegistryHost[];
  /** Registries labelled `"true"` that restricted mode refuses (not declared); never served. */
  readonly undeclared: readonly RegistryHost[];
}

interface Selecting {
  readonly registry: RegistryHost;
  readonly selector: LabelSelector;
  readonly excluded: (name: string) => boolean;
}

export class RegistryPolicy {
  private readonly declared: ReadonlySet<string>;
  private readonly restrict: boolean;
  private readonly selecting: readonly Selecting[];
  private readonly keys: ReadonlySet<string>;

  constructor(o: RegistryPolicyOptions) {
    this.declared = new Set(o.registries.map((r) => r.host));
    this.restrict = o.restrictToDeclared;
    const selecting: Selecting[] = [];
    const keys = new Set<string>();
    for (const entry of o.registries) {
      const registry = parseRegistryHost(entry.host);
      if (entry.namespaceSelector === undefined || registry === undefined) continue;
      selecting.push({
        registry,
        selector: entry.namespaceSelector,
        excluded: compileNamePatterns(entry.excludeNamespaces ?? []),
      });
      for (const key of selectorKeys(entry.namespaceSelector)) keys.add(key);
    }
    this.selecting = selecting;
    this.keys = keys;
  }

  /** The registries a namespace gets, and those it asks for that restricted mode refuses. */
  wants(ns: V1Namespace): Wants {
    const labels = ns.metadata?.labels ?? {};
    const name = ns.metadata?.name ?? "";
    const wanted = new Map<string, RegistryHost>();
    const undeclared: RegistryHost[] = [];
    const labelled = new Set<string>();
    for (const [key, value] of Object.entries(labels)) {
      const registry = parseRegistryHost(key);
      if (registry === undefined) continue;
      labelled.add(registry.host);
      if (value !== OPT_IN_VALUE) continue;
      if (!this.manages(registry.host)) undeclared.push(registry);
      else wanted.set(registry.host, registry);
    }
    for (const s of this.selecting) {
      if (labelled.has(s.registry.host) || s.excluded(name)) continue;
      if (selectorMatches(s.selector, labels)) wanted.set(s.registry.host, s.registry);
    }
    return { wanted: [...wanted.values()], undeclared };
  }

  /** The registries a namespace gets (wants().wanted). */
  wanted(ns: V1Namespace): readonly RegistryHost[] {
    return this.wants(ns).wanted;
  }

  /** Whether eatr may serve, write or delete pull secrets of this host (restricted: declared hosts only). */
  manages(host: string): boolean {
    return !this.restrict || this.declared.has(host);
  }

  /** Whether a namespace cache must keep this label: a registry host label, or a key a selector reads. */
  keepsLabel(key: string): boolean {
    return this.keys.has(key) || parseRegistryHost(key) !== undefined;
  }
}

/** The seed's policy: labels only, every host served. */
export const LABELS_ONLY = new RegistryPolicy({ registries: [], restrictToDeclared: false });
