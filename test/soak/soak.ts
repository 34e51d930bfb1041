/**
 * One soak run: its own control plane (etcd + kube-apiserver), the local ECR and STS endpoints, R registries
 * with credential secrets (every other one assuming a role through STS), `replicas` eatr processes behind
 * TCP proxies, the admin watches recording the history, then the schedule (generator and nemesis loops in
 * parallel), the settle phase, the wait for convergence, the AWS call logs and the secret-material scan.
 * Everything started here is stopped in `finally`, and by the cleanup handlers on signals and fatal errors.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Kube } from "../../bench/lib/kube.ts";
import { ensureBinaries, startControlPlane, type ControlPlane } from "../env/control-plane.ts";
import { startEcrServer, type EcrServer } from "../env/ecr-server.ts";
import { startStsServer, type StsServer } from "../env/sts-server.ts";
import {
  activateKey,
  credentialData,
  perform,
  putCredentials,
  roleArn,
  type Outcome,
  type World,
} from "./actions.ts";
import { check, convergenceProblems, foreignUidsOf, type InvariantResult } from "./checker.ts";
import { History, type MetaEntry, type StateEntry } from "./history.ts";
import { LeakScanner } from "./leaks.ts";
import { Recorder } from "./recorder.ts";
import { addKnownSecrets, snapshot } from "./state.ts";
import { Replicas } from "./replicas.ts";
import { keyFor, makeSchedule, type Profile, type Step } from "./schedule.ts";

export const HOST_NAMESPACE = "soak-host";
export const LEASE_NAME = "eatr";
export const TIMINGS = {
  leaseMs: 4_000,
  renewDeadlineMs: 3_000,
  retryMs: 1_000,
  renewalIntervalMs: 120_000,
  safetyMarginMs: 3_600_000,
  stsDurationMs: 900_000,
} as const;

/** Faults on processes, proxies and the control plane (one lane; AWS faults run in another). */
const PROCESS_FAULTS = new Set([
  "leader-kill",
  "leader-term",
  "cut",
  "heal",
  "apiserver-restart",
  "compact-restart",
  "ensure-replicas",
]);

export interface SoakOptions {
  profile: Profile;
  mainJs: string;
  outDir: string;
  log(line: string): void;
}

export interface SoakResult {
  results: InvariantResult[];
  historyFile: string;
  logsDir: string;
  faults: Record<string, number>;
  ops: Record<string, { ok: number; skipped: number; failed: number }>;
  convergedAfterMs: number | undefined;
  boundMs: number;
  boundFormula: string;
  wallMs: number;
}

/** ms to wait for convergence after the settle phase, and how it was worked out. */
export function convergenceBound(steps: readonly Step[]): { ms: number; formula: string } {
  // The longest AWS fault window: eatr's per-registry backoff (1 s doubling to 5 min) may sit at the next
  // power of two above it when the fault ends.
  const windows: number[] = [];
  const open = new Map<string, number>();
  const ends: Record<string, string> = {
    "ecr-ok": "ecr-fail",
    "ecr-fast": "ecr-slow",
    "sts-ok": "sts-fail",
    "right-key": "wrong-key",
  };
  for (const s of steps) {
    const k = s.action.kind;
    if (Object.values(ends).includes(k)) open.set(k, s.at);
    const start = ends[k];
    if (start !== undefined && open.has(start)) {
      windows.push(s.at - (open.get(start) ?? s.at) + 10_000);
      open.delete(start);
    }
  }
  const longest = Math.max(1_000, ...windows);
  const backoff = Math.min(300_000, 2 ** Math.ceil(Math.log2(longest / 1_000)) * 1_000);
  const ms = TIMINGS.leaseMs + 2 * TIMINGS.retryMs + backoff + 60_000;
  return {
    ms,
    formula: `leaseDuration 4 s + 2 × retryPeriod 1 s + backoff after the longest AWS fault (${String(Math.round(longest / 1000))} s incl. a 10 s call timeout → ${String(backoff / 1000)} s) + 60 s for a busy machine`,
  };
}

async function withRetries(fn: () => Promise<Outcome>, deadlineMs: number): Promise<Outcome> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      const detail = err instanceof Error ? err.message.slice(0, 200) : String(err);
      if (Date.now() >= until) return { outcome: "failed", detail };
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
}

export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const wallStart = Date.now();
  const p = o.profile;
  const schedule = makeSchedule(p);
  const logsDir = join(o.outDir, "logs");
  mkdirSync(logsDir, { recursive: true });
  const bound = convergenceBound(schedule.steps);
  const log = (line: string): void => {
    o.log(line);
  };
  const binaries = await ensureBinaries({ helm: false, log });
  const cp: ControlPlane = await startControlPlane({ binaries, log });
  let ecr: EcrServer | undefined;
  let sts: StsServer | undefined;
  let kube: Kube | undefined;
  let replicas: Replicas | undefined;
  let recorder: Recorder | undefined;
  let history: History | undefined;
  const scanner = new LeakScanner();
  let metricsTimer: NodeJS.Timeout | undefined;
  try {
    ecr = await startEcrServer({});
    if (schedule.registries.some((r) => r.role)) sts = await startStsServer({ ecr });
    kube = new Kube(cp);
    const server = new URL(cp.server);
    const start = Date.now();
    history = new History(join(o.outDir, "history.jsonl"), start);
    const h = history;
    replicas = new Replicas({
      mainJs: o.mainJs,
      adminKubeconfig: cp.kubeconfigPath,
      apiServer: { host: server.hostname, port: Number(server.port) },
      logsDir,
      args: [
        "-port",
        "0",
        "-logging-verbosity-level",
        "6",
        "-ecr-endpoint",
        ecr.endpoint,
        ...(sts ? ["-sts-endpoint", sts.endpoint] : []),
        "-host-namespace",
        HOST_NAMESPACE,
        "-leader-elect",
        "-leader-election-id",
        LEASE_NAME,
        "-leader-election-lease-duration",
        `${String(TIMINGS.leaseMs / 1000)}s`,
        "-leader-election-renew-deadline",
        `${String(TIMINGS.renewDeadlineMs / 1000)}s`,
        "-leader-election-retry-period",
        `${String(TIMINGS.retryMs / 1000)}s`,
        "-auth-token-renewal-interval",
        `${String(TIMINGS.renewalIntervalMs / 1000)}s`,
        "-token-safety-margin",
        `${String(TIMINGS.safetyMarginMs / 1000)}s`,
      ],
      onStart: (r) => {
        h.add({
          kind: "replica",
          name: r.name,
          event: "start",
          ...(r.identity === undefined ? {} : { identity: r.identity }),
          logFile: r.logFile,
        });
      },
      onExit: (r, code) => {
        h.add({
          kind: "replica",
          name: r.name,
          event: "exit",
          code,
          ...(r.identity === undefined ? {} : { identity: r.identity }),
        });
      },
    });
    const world: World = {
      seed: p.seed,
      kube,
      cp,
      ecr,
      sts,
      replicas,
      registries: schedule.registries,
      hostNamespace: HOST_NAMESPACE,
      leaseName: LEASE_NAME,
      replicaCount: p.replicas,
      stsDurationSeconds: TIMINGS.stsDurationMs / 1000,
      keys: new Map(schedule.registries.map((r) => [r.index, 0])),
      wrongSecrets: [],
      log,
    };
    const meta: MetaEntry = {
      kind: "meta",
      t: 0,
      seed: p.seed,
      profile: { ...p },
      registries: schedule.registries.map((r) => ({
        index: r.index,
        host: r.host,
        accountId: r.accountId,
        role: r.role,
      })),
      hostNamespace: HOST_NAMESPACE,
      lease: `${HOST_NAMESPACE}/${LEASE_NAME}`,
      timings: { ...TIMINGS },
      mainJs: o.mainJs,
    };
    h.add(meta);

    // ---- setup: host namespace, credential secrets, the first namespaces, the watches, the replicas ----
    await kube.json("POST", "/api/v1/namespaces", { metadata: { name: HOST_NAMESPACE } });
    for (const r of schedule.registries) {
      activateKey(world, r, 0);
      await putCredentials(world, r, credentialData(world, r, 0));
    }
    recorder = new Recorder(cp, h, HOST_NAMESPACE, LEASE_NAME);
    await recorder.start();
    for (const op of schedule.initial) {
      const out = await withRetries(() => perform(world, op), 30_000);
      h.add({ kind: "op", actor: "setup", action: op, ...out });
    }
    o.log(`soak: starting ${String(p.replicas)} replicas of ${o.mainJs}`);
    for (let i = 0; i < p.replicas; i++) await replicas.start();
    const scrape = async (): Promise<void> => {
      for (const r of replicas?.live() ?? []) {
        if (r.port === undefined) continue;
        try {
          const res = await fetch(`http://127.0.0.1:${String(r.port)}/metrics`, {
            signal: AbortSignal.timeout(3_000),
          });
          const text = await res.text();
          addKnownSecrets(world, scanner);
          scanner.metricsScrapes++;
          scanner.scan(text, `${r.name} /metrics`);
        } catch {
          // exiting or cut off
        }
      }
    };
    metricsTimer = setInterval(() => void scrape(), 5_000);

    // ---- the schedule ----
    const t0 = Date.now();
    o.log(
      `soak: seed ${p.seed}: ${String(schedule.steps.length)} steps over ${String(p.durationMs / 1000)} s`,
    );
    // Three loops: the generator, the nemesis's process-level faults (a restart can take 15 s on a busy
    // machine) and its AWS faults, so that one slow fault does not hold up the others.
    const lane = (s: Step): string =>
      s.actor === "generator" ? "generator" : PROCESS_FAULTS.has(s.action.kind) ? "process" : "aws";
    const runLoop = async (which: string): Promise<void> => {
      for (const step of schedule.steps.filter((s) => lane(s) === which)) {
        const actor = step.actor;
        const wait = t0 + step.at - Date.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        const out = await withRetries(
          () => perform(world, step.action),
          actor === "nemesis" ? 60_000 : 10_000,
        );
        h.add({ kind: "op", actor, action: step.action, ...out });
        if (actor === "nemesis")
          o.log(
            `soak: ${((Date.now() - t0) / 1000).toFixed(1)} s ${step.action.kind} ${out.outcome}${out.detail ? ` ${out.detail}` : ""}`,
          );
      }
    };
    await Promise.all([runLoop("generator"), runLoop("process"), runLoop("aws")]);

    // ---- settle, then wait for convergence ----
    for (const a of schedule.settle) {
      const out = await withRetries(() => perform(world, a), 60_000);
      h.add({ kind: "op", actor: "settle", action: a, ...out });
    }
    const settledAt = h.now();
    o.log(`soak: nemesis stopped; waiting up to ${String(bound.ms / 1000)} s for convergence`);
    let state: StateEntry | undefined;
    let convergedAfterMs: number | undefined;
    const deadline = Date.now() + bound.ms;
    for (;;) {
      try {
        state = await snapshot(world, h.now());
        const problems = convergenceProblems(state, meta, foreignUidsOf(h.entries));
        if (problems.length === 0) {
          convergedAfterMs = h.now() - settledAt;
          break;
        }
        if (Date.now() >= deadline) break;
      } catch (err) {
        o.log(`soak: snapshot failed (retrying): ${err instanceof Error ? err.message : String(err)}`);
        if (Date.now() >= deadline && state !== undefined) break;
      }
      await new Promise((resolve) => setTimeout(resolve, 2_000));
    }
    if (state !== undefined) h.add(state);
    h.add({
      kind: "convergence",
      settledAt,
      boundMs: bound.ms,
      boundFormula: bound.formula,
      ...(convergedAfterMs === undefined ? {} : { convergedAfterMs }),
    });
    // Let the watches see the last writes, then stop recording.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await recorder.stop();
    recorder = undefined;
    clearInterval(metricsTimer);
    metricsTimer = undefined;
    await scrape();

    // ---- AWS calls and secret material ----
    const byKey = new Map<string, number>();
    for (const r of schedule.registries)
      for (let g = 0; g <= 64; g++) byKey.set(keyFor(p.seed, r, g).id, r.index);
    const roleOf = new Map(schedule.registries.map((r) => [roleArn(r), r.index]));
    for (const i of sts?.issued() ?? []) {
      const r = roleOf.get(i.roleArn);
      if (r !== undefined) byKey.set(i.accessKeyId, r);
    }
    for (const c of ecr.log()) {
      const r = c.accessKeyId === undefined ? undefined : byKey.get(c.accessKeyId);
      h.add({ kind: "aws-call", t: c.at - start, service: "ecr", registry: r ?? -1, outcome: c.outcome });
    }
    for (const c of sts?.log() ?? []) {
      const r = c.roleArn === undefined ? undefined : roleOf.get(c.roleArn);
      h.add({ kind: "aws-call", t: c.at - start, service: "sts", registry: r ?? -1, outcome: c.outcome });
    }
    addKnownSecrets(world, scanner);
    await replicas.stopAll();
    for (const r of replicas.all) await scanner.scanFile(r.logFile, `${r.name} log`);
    const events = await kube.listAll<Record<string, unknown>>("/api/v1/events");
    for (const e of events.items) {
      scanner.events++;
      const meta2 = e.metadata as { namespace?: string; name?: string } | undefined;
      scanner.scan(JSON.stringify(e), `Event ${meta2?.namespace ?? ""}/${meta2?.name ?? ""}`);
    }
    h.add({
      kind: "leak-scan",
      logLines: scanner.logLines,
      events: scanner.events,
      metricsScrapes: scanner.metricsScrapes,
      secretsKnown: scanner.known,
      hits: scanner.hits.slice(0, 50),
    });

    const results = check(h.entries);
    const faults: Record<string, number> = {};
    const ops: SoakResult["ops"] = {};
    for (const e of h.entries) {
      if (e.kind !== "op") continue;
      if (e.actor === "nemesis" && e.outcome === "ok")
        faults[e.action.kind] = (faults[e.action.kind] ?? 0) + 1;
      if (e.actor === "generator" || e.actor === "setup") {
        const c = (ops[e.action.kind] ??= { ok: 0, skipped: 0, failed: 0 });
        c[e.outcome]++;
      }
    }
    return {
      results,
      historyFile: h.file,
      logsDir,
      faults,
      ops,
      convergedAfterMs,
      boundMs: bound.ms,
      boundFormula: bound.formula,
      wallMs: Date.now() - wallStart,
    };
  } finally {
    if (metricsTimer) clearInterval(metricsTimer);
    await recorder?.stop().catch(() => undefined);
    await replicas?.stopAll().catch(() => undefined);
    kube?.close();
    await sts?.close().catch(() => undefined);
    await ecr?.close().catch(() => undefined);
    await cp.stop();
    await history?.close();
  }
}
