/**
 * Carries out the schedule's actions against the real system: the generator's operations through an admin
 * client (field manager soak-generator), the nemesis's faults on the processes, proxies, control plane and
 * the local ECR and STS endpoints. Each action resolves with its outcome; none throws for a refused
 * operation (a 404 or 409 is a fact of the run, recorded in the history).
 */
import type { Kube } from "../../bench/lib/kube.ts";
import { ApiError } from "../../bench/lib/kube.ts";
import type { ControlPlane } from "../env/control-plane.ts";
import type { EcrServer } from "../env/ecr-server.ts";
import type { StsServer } from "../env/sts-server.ts";
import type { Replica, Replicas } from "./replicas.ts";
import { keyFor, wrongSecretFor, type Action, type Registry } from "./schedule.ts";

export const CREDENTIALS_PREFIX = "eatr-aws-credentials";
const FM = "fieldManager=soak-generator";
const MERGE = { contentType: "application/merge-patch+json" };
const TOKEN_LIFETIME_MS = 12 * 3600 * 1000;

export interface Outcome {
  outcome: "ok" | "skipped" | "failed";
  detail?: string;
  uid?: string;
  rv?: string;
}

export interface World {
  seed: string;
  kube: Kube;
  cp: ControlPlane;
  ecr: EcrServer;
  sts: StsServer | undefined;
  replicas: Replicas;
  registries: readonly Registry[];
  hostNamespace: string;
  leaseName: string;
  replicaCount: number;
  stsDurationSeconds: number;
  /** The key generation each registry's credential secret holds now. */
  keys: Map<number, number>;
  /** Every wrong secret key written (looked for in logs too). */
  wrongSecrets: string[];
  log(line: string): void;
}

export function roleArn(r: Registry): string {
  return `arn:aws:iam::${r.accountId}:role/eatr-soak`;
}

const b64 = (s: string): string => Buffer.from(s, "utf8").toString("base64");

/** Makes key generation `g` of registry `r` valid at ECR (and at STS for a role registry). */
export function activateKey(w: World, r: Registry, g: number): void {
  const k = keyFor(w.seed, r, g);
  w.ecr.addKey({ accessKeyId: k.id, secretAccessKey: k.secret, accountId: r.accountId });
  if (r.role && w.sts) {
    w.sts.addCaller({ accessKeyId: k.id, secretAccessKey: k.secret, accountId: r.accountId });
    const trusted = Array.from({ length: g + 1 }, (_, i) => keyFor(w.seed, r, i).id);
    w.sts.addRole({ arn: roleArn(r), trustedCallers: trusted });
  }
}

export function credentialData(
  w: World,
  r: Registry,
  g: number,
  wrongSecret?: string,
): Record<string, string> {
  const k = keyFor(w.seed, r, g);
  return {
    aws_access_key_id: b64(k.id),
    aws_secret_access_key: b64(wrongSecret ?? k.secret),
    ...(r.role
      ? { aws_role_arn: b64(roleArn(r)), aws_role_duration_seconds: b64(String(w.stsDurationSeconds)) }
      : {}),
  };
}

function credentialPath(w: World, r: Registry, name = true): string {
  const base = `/api/v1/namespaces/${w.hostNamespace}/secrets`;
  return name ? `${base}/${CREDENTIALS_PREFIX}-${r.host}` : base;
}

export async function putCredentials(w: World, r: Registry, data: Record<string, string>): Promise<Outcome> {
  const patched = await w.kube.request("PATCH", `${credentialPath(w, r)}?${FM}`, { data }, MERGE);
  if (patched.status === 200) return { outcome: "ok" };
  if (patched.status !== 404) throw new ApiError("PATCH", credentialPath(w, r), patched.status, patched.body);
  await w.kube.json("POST", `${credentialPath(w, r, false)}?${FM}`, {
    metadata: { name: `${CREDENTIALS_PREFIX}-${r.host}` },
    type: "Opaque",
    data,
  });
  return { outcome: "ok", detail: "created" };
}

interface SecretObject {
  metadata?: { uid?: string; resourceVersion?: string; labels?: Record<string, string> };
}

async function readPullSecret(w: World, ns: string, host: string): Promise<SecretObject | undefined> {
  return w.kube.json<SecretObject>("GET", `/api/v1/namespaces/${ns}/secrets/${host}`, undefined, {
    allow: [404],
  });
}

function registryOf(w: World, index: number): Registry {
  const r = w.registries[index];
  if (r === undefined) throw new Error(`no registry ${String(index)}`);
  return r;
}

/** The replica holding the Lease now (read from the API server), if it is one of ours and alive. */
async function leader(w: World): Promise<Replica | undefined> {
  const lease = await w.kube.json<{ spec?: { holderIdentity?: string } }>(
    "GET",
    `/apis/coordination.k8s.io/v1/namespaces/${w.hostNamespace}/leases/${w.leaseName}`,
    undefined,
    { allow: [404], timeoutMs: 5_000 },
  );
  return w.replicas.byIdentity(lease?.spec?.holderIdentity);
}

/** Carries out one action. Throws only for transient trouble worth a retry (network, 5xx, 429). */
export async function perform(w: World, a: Action): Promise<Outcome> {
  switch (a.kind) {
    // ---- generator ----
    case "ns-create": {
      const res = await w.kube.request("POST", `/api/v1/namespaces?${FM}`, {
        metadata: { name: a.ns, labels: { ...a.labels, "soak.eatr.io/kind": "labelled" } },
      });
      return created(res, "POST", a.ns);
    }
    case "ns-label": {
      const res = await w.kube.request(
        "PATCH",
        `/api/v1/namespaces/${a.ns}?${FM}`,
        { metadata: { labels: { [a.host]: a.value } } },
        MERGE,
      );
      return answered(res, "PATCH", a.ns);
    }
    case "ns-delete":
      return answered(await w.kube.request("DELETE", `/api/v1/namespaces/${a.ns}`), "DELETE", a.ns);
    case "ns-unrelated": {
      if (a.create) {
        const res = await w.kube.request("POST", `/api/v1/namespaces?${FM}`, {
          metadata: { name: a.ns, labels: { "soak.eatr.io/kind": "unrelated" } },
        });
        return created(res, "POST", a.ns);
      }
      const res = await w.kube.request(
        "PATCH",
        `/api/v1/namespaces/${a.ns}?${FM}`,
        { metadata: { labels: { "soak.eatr.io/churn": String(Date.now()) } } },
        MERGE,
      );
      return answered(res, "PATCH", a.ns);
    }
    case "cred-rotate":
    case "cred-recreate": {
      const r = registryOf(w, a.registry);
      const old = w.keys.get(r.index) ?? 0;
      activateKey(w, r, a.key);
      const out = await putCredentials(w, r, credentialData(w, r, a.key));
      w.keys.set(r.index, a.key);
      // The old key is deactivated (a real rotation): a fetch still using it fails and backs off.
      if (old !== a.key) w.ecr.removeKey(keyFor(w.seed, r, old).id);
      return out;
    }
    case "cred-delete": {
      const r = registryOf(w, a.registry);
      return answered(await w.kube.request("DELETE", credentialPath(w, r)), "DELETE", r.host);
    }
    case "pull-edit": {
      const s = await readPullSecret(w, a.ns, a.host);
      if (s?.metadata?.labels?.["app.kubernetes.io/managed-by"] !== "eatr")
        return { outcome: "skipped", detail: "no managed pull secret" };
      const stale = b64(
        JSON.stringify({ auths: { [`https://${a.host}`]: { auth: b64("AWS:stale-by-hand") } } }),
      );
      const res = await w.kube.request(
        "PATCH",
        `/api/v1/namespaces/${a.ns}/secrets/${a.host}?${FM}`,
        { metadata: { resourceVersion: s.metadata.resourceVersion }, data: { ".dockerconfigjson": stale } },
        MERGE,
      );
      const out = answered(res, "PATCH", a.host);
      return { ...out, ...(s.metadata.uid === undefined ? {} : { uid: s.metadata.uid }) };
    }
    case "pull-delete": {
      const s = await readPullSecret(w, a.ns, a.host);
      const uid = s?.metadata?.uid;
      if (s?.metadata?.labels?.["app.kubernetes.io/managed-by"] !== "eatr" || uid === undefined)
        return { outcome: "skipped", detail: "no managed pull secret" };
      const res = await w.kube.request("DELETE", `/api/v1/namespaces/${a.ns}/secrets/${a.host}`, {
        preconditions: { uid },
      });
      return { ...answered(res, "DELETE", a.host), uid };
    }
    case "foreign-create": {
      const auth = b64(JSON.stringify({ auths: { [`https://${a.host}`]: { auth: b64("someone:else") } } }));
      const res = await w.kube.request("POST", `/api/v1/namespaces/${a.ns}/secrets?${FM}`, {
        metadata: { name: a.host, labels: { "soak.eatr.io/kind": "foreign" } },
        type: "kubernetes.io/dockerconfigjson",
        data: { ".dockerconfigjson": auth },
      });
      const out = created(res, "POST", a.host);
      if (out.outcome !== "ok") return out;
      const body = JSON.parse(res.body) as SecretObject;
      return {
        outcome: "ok",
        ...(body.metadata?.uid === undefined ? {} : { uid: body.metadata.uid }),
        ...(body.metadata?.resourceVersion === undefined ? {} : { rv: body.metadata.resourceVersion }),
      };
    }

    // ---- nemesis ----
    case "leader-kill":
    case "leader-term": {
      const l = await leader(w);
      if (l === undefined) return { outcome: "skipped", detail: "no live leader" };
      l.signal(a.kind === "leader-kill" ? "SIGKILL" : "SIGTERM");
      return { outcome: "ok", detail: l.name };
    }
    case "cut": {
      const l = await leader(w);
      const target =
        a.target === "leader" ? l : w.replicas.live().find((r) => r !== l && r.identity !== undefined);
      if (target === undefined) return { outcome: "skipped", detail: `no ${a.target}` };
      target.proxy.cut();
      return { outcome: "ok", detail: target.name };
    }
    case "heal": {
      const cut = w.replicas.all.filter((r) => r.proxy.isCut);
      for (const r of cut) r.proxy.heal();
      return { outcome: cut.length > 0 ? "ok" : "skipped", detail: cut.map((r) => r.name).join(",") };
    }
    case "apiserver-restart":
      await w.cp.restartApiServer();
      return { outcome: "ok" };
    case "compact-restart": {
      const revision = await w.cp.compactEtcd();
      await w.cp.restartApiServer();
      return { outcome: "ok", detail: `compacted at revision ${String(revision)}` };
    }
    case "ensure-replicas": {
      const started: string[] = [];
      while (w.replicas.live().length < w.replicaCount) started.push((await w.replicas.start()).name);
      return started.length > 0 ? { outcome: "ok", detail: started.join(",") } : { outcome: "skipped" };
    }
    case "ecr-fail":
      w.ecr.setFailureMode(a.mode);
      return { outcome: "ok" };
    case "ecr-ok":
      w.ecr.setFailureMode(null);
      return { outcome: "ok" };
    case "ecr-slow":
      w.ecr.setLatencyMs(a.latencyMs);
      return { outcome: "ok" };
    case "ecr-fast":
      w.ecr.setLatencyMs(0);
      return { outcome: "ok" };
    case "ecr-short-tokens":
      w.ecr.setTokenLifetimeMs(a.lifetimeMs);
      return { outcome: "ok" };
    case "ecr-normal-tokens":
      w.ecr.setTokenLifetimeMs(TOKEN_LIFETIME_MS);
      return { outcome: "ok" };
    case "sts-fail":
      if (!w.sts) return { outcome: "skipped", detail: "no STS" };
      w.sts.setFailureMode(a.mode);
      return { outcome: "ok" };
    case "sts-ok":
      w.sts?.setFailureMode(null);
      return { outcome: "ok" };
    case "wrong-key": {
      const r = registryOf(w, a.registry);
      const wrong = wrongSecretFor(w.seed, r, w.wrongSecrets.length);
      w.wrongSecrets.push(wrong);
      const res = await w.kube.request(
        "PATCH",
        `${credentialPath(w, r)}?${FM}`,
        { data: { aws_secret_access_key: b64(wrong) } },
        MERGE,
      );
      return answered(res, "PATCH", r.host);
    }
    case "right-key": {
      const r = registryOf(w, a.registry);
      const g = w.keys.get(r.index) ?? 0;
      activateKey(w, r, g);
      return putCredentials(w, r, credentialData(w, r, g));
    }
  }
}

function transient(status: number): boolean {
  return status === 0 || status === 429 || status >= 500;
}

function answered(res: { status: number; body: string }, method: string, what: string): Outcome {
  if (res.status >= 200 && res.status < 300) return { outcome: "ok" };
  if (transient(res.status)) throw new ApiError(method, what, res.status, res.body);
  return { outcome: "failed", detail: `HTTP ${String(res.status)}: ${reasonOf(res.body)}` };
}

function created(res: { status: number; body: string }, method: string, what: string): Outcome {
  if (res.status === 201 || res.status === 200) return { outcome: "ok" };
  return answered(res, method, what);
}

function reasonOf(body: string): string {
  try {
    const s = JSON.parse(body) as { reason?: string; message?: string };
    return `${s.reason ?? ""} ${(s.message ?? "").slice(0, 120)}`.trim();
  } catch {
    return body.slice(0, 120);
  }
}
