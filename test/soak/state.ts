/**
 * What the soak reads of the run's state: the final snapshot of every soak namespace (each registry's
 * secret judged against the local ECR: was its token minted there, for that registry, and when does it
 * expire), and every secret value handed out so far (for the secret-material scan).
 */
import type { World } from "./actions.ts";
import type { FinalNamespace, FinalSecret, StateEntry } from "./history.ts";
import type { LeakScanner } from "./leaks.ts";
import { isSoakNamespace } from "./recorder.ts";
import { keyFor } from "./schedule.ts";
import type { KubeItem } from "./watch.ts";

/** Every secret value the run has handed out so far, for the scanner. */
export function addKnownSecrets(w: World, scanner: LeakScanner): void {
  for (const r of w.registries) {
    for (let g = 0; g <= (w.keys.get(r.index) ?? 0) + 1; g++) {
      const k = keyFor(w.seed, r, g);
      scanner.add(k.secret, "secret access key");
      scanner.add(k.id, "access key id");
    }
  }
  for (const s of w.wrongSecrets) scanner.add(s, "wrong secret access key");
  for (const t of w.ecr.tokens()) {
    scanner.add(t.password, "ECR password");
    scanner.add(t.authorizationToken, "ECR authorization token");
  }
  for (const i of w.sts?.issued() ?? []) {
    scanner.add(i.accessKeyId, "STS access key id");
    scanner.add(i.secretAccessKey, "STS secret access key");
    scanner.add(i.sessionToken, "STS session token");
  }
}

/** What every soak namespace holds now, with each registry's secret judged against the local ECR. */
export async function snapshot(w: World, t: number): Promise<StateEntry> {
  const at = Date.now();
  const nss = await w.kube.listAll<KubeItem & { status?: { phase?: string } }>("/api/v1/namespaces");
  const secrets = await w.kube.listAll<KubeItem & { type?: string; data?: Record<string, string> }>(
    "/api/v1/secrets",
  );
  const hosts = new Map(w.registries.map((r) => [r.host, r]));
  const namespaces: FinalNamespace[] = [];
  for (const n of nss.items) {
    const name = n.metadata?.name ?? "";
    if (!isSoakNamespace(name)) continue;
    const mine: FinalSecret[] = [];
    for (const s of secrets.items) {
      const m = s.metadata ?? {};
      if (m.namespace !== name) continue;
      const r = hosts.get(m.name ?? "");
      if (r === undefined) continue;
      let password: string | undefined;
      let exact = false;
      try {
        const keys = Object.keys(s.data ?? {});
        const json = JSON.parse(
          Buffer.from(s.data?.[".dockerconfigjson"] ?? "", "base64").toString("utf8"),
        ) as {
          auths?: Record<string, { auth?: string }>;
        };
        const auths = json.auths ?? {};
        const auth = auths[`https://${r.host}`]?.auth;
        exact =
          keys.length === 1 &&
          Object.keys(json).length === 1 &&
          Object.keys(auths).length === 1 &&
          auth !== undefined;
        const decoded = Buffer.from(auth ?? "", "base64").toString("utf8");
        if (decoded.startsWith("AWS:")) password = decoded.slice(4);
      } catch {
        exact = false;
      }
      const token = password === undefined ? undefined : w.ecr.findToken(password);
      const issued = token !== undefined && token.registryId === r.accountId;
      mine.push({
        name: r.host,
        uid: m.uid ?? "",
        rv: m.resourceVersion ?? "",
        managed: m.labels?.["app.kubernetes.io/managed-by"] === "eatr",
        owned:
          exact && m.annotations?.["eatr/registry"] === r.host && s.type === "kubernetes.io/dockerconfigjson",
        tokenIssued: issued,
        ...(issued && token.expiresAt !== undefined ? { tokenExpiresAtMs: token.expiresAt.getTime() } : {}),
      });
    }
    namespaces.push({
      name,
      phase: n.metadata?.deletionTimestamp !== undefined ? "Terminating" : (n.status?.phase ?? "Active"),
      labels: n.metadata?.labels ?? {},
      secrets: mine,
    });
  }
  return { kind: "state", t, at, namespaces };
}
