/**
 * Leader election end to end: three eatr processes (dist/main.js) share one host namespace and one Lease on
 * the real kube-apiserver of `npm run test:e2e`. Each talks to the API server through its own TCP proxy
 * (support/tcp-proxy.ts), so one of them can be cut off from it.
 *
 * Short but realistic timings: lease 4 s, renew deadline 3 s, retry period 1 s. Throughout the file the test
 * edits the registry's credential secret about twice a second (a data key eatr does not read, so the keys
 * stay good): each edit re-mints the token and has the leader rewrite every pull secret, and a stray write
 * by a replica that does not lead would show.
 *
 * Throughout the file the test records (support/observe.ts) every replica's leader_election_master_status
 * and the Lease holder (polled every ~100 ms), the Lease's history and every pull secret write (watches),
 * and each replica's own log. The last test checks over the whole run: never two leaders at once, and every
 * write made by the holder of the Lease term it fell in. The tests in between kill, stop and cut off the
 * leader one after another (a replacement replica is started each time, so three are running), and measure
 * failover times; timing assertions carry a generous allowance for a loaded 2-core machine, the measured
 * times are printed.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as delay } from "node:timers/promises";
import { CoordinationV1Api } from "@kubernetes/client-node";
import { parse, stringify } from "yaml";
import type { EcrServer } from "../env/ecr-server.ts";
import {
  MANAGED_BY,
  createCredentials,
  createLabelledNamespace,
  credentialSecretName,
  kube,
  kubeconfigPath,
  listEvents,
  mergePatch,
  newKey,
  randomAccountId,
  registryHost,
  startController,
  startEcr,
  statusOf,
  stopEverything,
  unique,
  uniqueHostNamespace,
  waitFor,
} from "../integration/support/harness.ts";
import {
  LeaseHistory,
  WriteLog,
  iso,
  leadershipOf,
  overlappingLeaderships,
  recordWatch,
  roundProblems,
  startSampler,
  writesOutsideTheirTerm,
  type RecordingWatch,
  type Replica,
  type Sampler,
  type Term,
  type Write,
} from "./support/observe.ts";
import { closeAllProxies, startTcpProxy, type TcpProxy } from "./support/tcp-proxy.ts";

const LEASE_MS = 4_000;
const RENEW_DEADLINE_MS = 3_000;
const RETRY_MS = 1_000;
/** Added to every timing bound: a loaded 2-core machine runs the API server, etcd and four Node processes. */
const ALLOWANCE_MS = 5_000;
const ELECTION = "eatr";

const ELECTION_FLAGS = [
  "-leader-elect",
  "-leader-election-id",
  ELECTION,
  "-leader-election-lease-duration",
  `${LEASE_MS / 1000}s`,
  "-leader-election-renew-deadline",
  `${RENEW_DEADLINE_MS / 1000}s`,
  "-leader-election-retry-period",
  `${RETRY_MS / 1000}s`,
];
/** How often the test edits the credential secret (each edit: every pull secret rewritten by the leader). */
const CHURN_MS = 500;

const { kc, core } = kube();
const coordination = kc.makeApiClient(CoordinationV1Api);
const hostNs = uniqueHostNamespace();
const replicas: Replica[] = [];
const proxies = new Map<string, TcpProxy>();
/** Namespaces labelled by this file: only their secrets are recorded. */
const namespaces = new Set<string>();
const lease = new LeaseHistory();
const writes = new WriteLog((ns) => namespaces.has(ns));
const watches: RecordingWatch[] = [];
/** Measurements, printed together at the end. */
const measured: string[] = [];

let ecr: EcrServer;
let host: string;
let tmp: string;
let sampler: Sampler | undefined;
let churn: { stop(): Promise<number> } | undefined;
let replicasStarted = 0;

function log(line: string): void {
  console.log(`e2e: ${line}`);
}

function measure(line: string): void {
  measured.push(line);
  log(line);
}

function apiServerTarget(): { host: string; port: number } {
  const server = new URL(process.env.EATR_TEST_SERVER ?? kc.getCurrentCluster()?.server ?? "");
  return { host: server.hostname, port: Number(server.port) };
}

/** A copy of the admin kubeconfig whose server is https://127.0.0.1:<port> (the serving cert covers it). */
async function kubeconfigThrough(port: number, name: string): Promise<string> {
  const config = parse(await readFile(kubeconfigPath(), "utf8")) as {
    clusters?: { cluster?: { server?: string } }[];
  };
  for (const c of config.clusters ?? []) if (c.cluster) c.cluster.server = `https://127.0.0.1:${port}`;
  const path = join(tmp, `kubeconfig-${name}.yaml`);
  await writeFile(path, stringify(config), { mode: 0o600 });
  return path;
}

/**
 * Edits the credential secret every CHURN_MS until stopped: a data key eatr does not read, so the keys stay
 * valid while the credentials version changes, the token is re-minted and every pull secret rewritten by
 * the leader. stop() resolves with the number of edits.
 */
function startChurn(): { stop(): Promise<number> } {
  let stopped = false;
  let edits = 0;
  const loop = (async () => {
    while (!stopped) {
      try {
        await core.patchNamespacedSecret(
          {
            name: credentialSecretName(host),
            namespace: hostNs,
            body: { data: { "e2e-churn": Buffer.from(String(++edits)).toString("base64") } },
          },
          mergePatch(),
        );
      } catch (err) {
        log(`credential secret edit failed (retrying): ${err instanceof Error ? err.message : String(err)}`);
      }
      await delay(CHURN_MS);
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      return edits;
    },
  };
}

/** Starts replica p<n> behind its own proxy; resolves once it is ready (informers synced). */
async function startReplica(): Promise<Replica> {
  const name = `p${++replicasStarted}`;
  const proxy = await startTcpProxy(apiServerTarget());
  proxies.set(name, proxy);
  const proc = await startController({
    ecrEndpoint: ecr.endpoint,
    hostNamespace: hostNs,
    // A repeated flag keeps its last value: this replaces the harness's admin kubeconfig.
    extraArgs: ["-config-file-path", await kubeconfigThrough(proxy.port, name), ...ELECTION_FLAGS],
    // The Lease lives in the host namespace (the default when POD_NAMESPACE is empty).
    env: { POD_NAMESPACE: "" },
  });
  const identity = proc.logRecords().find((r) => r.msg === "eatr starting")?.identity;
  assert.equal(typeof identity, "string", `${name} logs its identity at startup`);
  const replica: Replica = { name, proc, identity: identity as string };
  void proc.exited.then((code) => {
    replica.exitedAt = Date.now();
    replica.exitCode = code;
  });
  replicas.push(replica);
  return replica;
}

/** A replica's last log lines about the lease (what it did at a release that did not come). */
function leaseLogOf(r: Replica): string[] {
  return r.proc
    .logs()
    .filter((line) => /lease|leader|leading|shutting down|stopped/i.test(line))
    .slice(-15);
}

function live(): Replica[] {
  return replicas.filter((r) => r.exitedAt === undefined);
}

function byIdentity(identity: string): Replica | undefined {
  return replicas.find((r) => r.identity === identity);
}

async function leaseHolder(): Promise<string | undefined> {
  try {
    const l = await coordination.readNamespacedLease({ name: ELECTION, namespace: hostNs });
    return l.spec?.holderIdentity ?? "";
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw err;
  }
}

/** The live replica that holds the Lease and reports leader_election_master_status 1 (other than `not`). */
function waitForLeader(not?: Replica, timeoutMs = 30_000): Promise<Replica> {
  return waitFor(
    async () => {
      const holder = await leaseHolder();
      const r = live().find((x) => x.identity === holder);
      if (r === undefined || r === not) return undefined;
      return (await r.proc.metric("leader_election_master_status", { name: ELECTION })) === 1 ? r : undefined;
    },
    {
      timeoutMs,
      intervalMs: 50,
      message: "a leader (Lease holder reporting leader_election_master_status 1)",
    },
  );
}

/** Labels a new namespace for the registry. */
async function labelNamespace(): Promise<string> {
  const ns = unique("e2e");
  namespaces.add(ns);
  await createLabelledNamespace(core, ns, [host]);
  return ns;
}

/** The first write of a pull secret into ns, as seen by the secrets watch. */
function firstWriteIn(ns: string, timeoutMs: number): Promise<Write> {
  return waitFor(() => writes.writes.find((w) => w.namespace === ns), {
    timeoutMs,
    intervalMs: 20,
    message: `a pull secret in ${ns}`,
  });
}

function writerOf(w: Write): Replica {
  assert.equal(
    w.managers.length,
    1,
    `one field manager wrote ${w.namespace}/${w.name}: ${w.managers.join(", ")}`,
  );
  const manager = w.managers[0] ?? "";
  assert.ok(manager.startsWith("eatr/"), `${manager} is an eatr replica`);
  const r = byIdentity(manager.slice("eatr/".length));
  assert.ok(r, `${manager} is one of this file's replicas`);
  return r;
}

/** The term holder began after `since` (Date.now()), once the Lease watch has seen it. */
function waitForTerm(holder: string, since: number, timeoutMs = 10_000): Promise<Term> {
  return waitFor(() => lease.termOf(holder, since), {
    timeoutMs,
    intervalMs: 20,
    message: `a Lease term of ${holder}`,
  });
}

function lastVersionOf(holder: string): Term["start"] {
  const term = lease.terms().findLast((t) => t.holder === holder);
  assert.ok(term, `${holder} held the Lease`);
  const last = term.versions.at(-1);
  assert.ok(last);
  return last;
}

function secondsText(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

describe("leader election: three replicas, one Lease", { timeout: 180_000 }, () => {
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), "eatr-e2e-"));
    const accountId = randomAccountId();
    host = registryHost(accountId, "eu-west-1");
    const key = newKey(accountId);
    ecr = await startEcr([key]);
    await createCredentials(core, hostNs, host, {
      accessKeyId: key.accessKeyId,
      secretAccessKey: key.secretAccessKey,
    });

    const leases = await coordination.listNamespacedLease({ namespace: hostNs });
    watches.push(
      recordWatch(
        kc,
        `/apis/coordination.k8s.io/v1/namespaces/${hostNs}/leases`,
        { fieldSelector: `metadata.name=${ELECTION}` },
        leases.metadata?.resourceVersion ?? "0",
        (e) => {
          lease.record(e);
        },
      ),
    );
    const labelSelector = `${MANAGED_BY.key}=${MANAGED_BY.value}`;
    const secrets = await core.listSecretForAllNamespaces({ labelSelector, limit: 1 });
    watches.push(
      recordWatch(kc, "/api/v1/secrets", { labelSelector }, secrets.metadata?.resourceVersion ?? "0", (e) => {
        writes.record(e);
      }),
    );
    sampler = startSampler({ replicas: () => replicas, readHolder: leaseHolder, election: ELECTION });
    churn = startChurn();
  });

  after(async () => {
    await churn?.stop();
    await sampler?.stop();
    for (const w of watches) w.stop();
    // The controllers first (the harness would only kill them after this hook), then their proxies.
    await stopEverything();
    await closeAllProxies();
    if (measured.length > 0) log(`measurements:\n  ${measured.join("\n  ")}`);
    await rm(tmp, { recursive: true, force: true });
  });

  it("elects exactly one of three replicas, and only it serves a labelled namespace", async () => {
    const started = Date.now();
    await Promise.all([startReplica(), startReplica(), startReplica()]);
    const leader = await waitForLeader();
    measure(
      `election: ${leader.name} leads ${secondsText(Date.now() - started)} after three replicas started`,
    );
    for (const r of live()) {
      const status = await r.proc.metric("leader_election_master_status", { name: ELECTION });
      assert.equal(status, r === leader ? 1 : 0, `${r.name} leader_election_master_status`);
    }
    const ns = await labelNamespace();
    const w = await firstWriteIn(ns, 30_000);
    assert.equal(writerOf(w).name, leader.name, "the leader created the pull secret");
    assert.equal(w.type, "ADDED");
  });

  it("SIGKILL of the leader: a peer serves a new namespace within leaseDuration + 2 × retryPeriod", async () => {
    const old = await waitForLeader();
    const killedAt = Date.now();
    old.proc.kill();
    const ns = await labelNamespace();
    assert.equal(await old.proc.exited, 128 + 9, "killed by SIGKILL");

    const bound = LEASE_MS + 2 * RETRY_MS;
    const w = await firstWriteIn(ns, bound + ALLOWANCE_MS + 10_000);
    const next = writerOf(w);
    assert.notEqual(next.name, old.name, "a peer, not the killed leader, serves the new namespace");
    const term = await waitForTerm(next.identity, killedAt);
    const oldLast = lastVersionOf(old.identity);
    const servedMs = w.at - killedAt;
    measure(
      `SIGKILL failover: ${next.name} took the Lease ${secondsText(term.start.at - killedAt)} and served a new ` +
        `namespace ${secondsText(servedMs)} after the kill (bound leaseDuration + 2 × retryPeriod = ${secondsText(bound)})`,
    );
    // Correctness first: the peer waited out the whole lease from the last renewal it could have seen.
    assert.ok(
      term.start.renewTime - oldLast.renewTime >= LEASE_MS,
      `the takeover (${iso(term.start.renewTime)}) is at least leaseDuration after the last renewal (${iso(oldLast.renewTime)})`,
    );
    assert.equal(term.start.transitions, oldLast.transitions + 1, "leaseTransitions counts the takeover");
    assert.ok(
      servedMs <= bound + ALLOWANCE_MS,
      `served after ${servedMs} ms (bound ${bound} + ${ALLOWANCE_MS} ms)`,
    );
    for (const x of writes.byIdentity(old.identity)) {
      assert.ok(
        x.rv < term.start.rv,
        `${old.name}'s write at rv ${x.rv} precedes the new term (rv ${term.start.rv})`,
      );
    }
    await startReplica();
  });

  it("SIGTERM of the leader: it stops writing, releases the Lease and exits 0; a peer takes over within 3 s", async () => {
    const old = await waitForLeader();
    const termAt = Date.now();
    const code = await old.proc.stop("SIGTERM");
    const exitMs = Date.now() - termAt;
    assert.equal(code, 0, "the leader exits 0 on SIGTERM");

    const released = await waitFor(() => lease.versions.find((v) => v.at >= termAt && v.holder === ""), {
      timeoutMs: 5_000,
      intervalMs: 20,
      message: "the released Lease (holder '')",
    }).catch((err: unknown) => {
      throw new Error(
        `${err instanceof Error ? err.message : String(err)}; ${old.name}'s last lease log lines:\n${leaseLogOf(old).join("\n")}`,
      );
    });
    assert.equal(released.leaseDurationSeconds, 1, "the released Lease lasts 1 s");
    const term = await waitFor(() => lease.terms().find((t) => t.start.rv > released.rv && t.holder !== ""), {
      timeoutMs: 3_000 + ALLOWANCE_MS,
      intervalMs: 20,
      message: "a peer taking over the released Lease",
    });
    const next = byIdentity(term.holder);
    assert.ok(next && next !== old, `the new holder ${term.holder} is a peer`);
    const takeoverMs = term.start.at - termAt;
    measure(
      `SIGTERM failover: ${old.name} exited 0 after ${secondsText(exitMs)}, released the Lease ` +
        `${secondsText(released.at - termAt)} after SIGTERM; ${next.name} took it ${secondsText(takeoverMs)} after SIGTERM ` +
        `(${secondsText(term.start.at - released.at)} after the release)`,
    );
    for (const x of writes.byIdentity(old.identity)) {
      assert.ok(
        x.rv < released.rv,
        `${old.name}'s write at rv ${x.rv} precedes the release (rv ${released.rv})`,
      );
    }
    assert.ok(
      takeoverMs <= 3_000 + ALLOWANCE_MS,
      `took over ${takeoverMs} ms after SIGTERM (3000 + ${ALLOWANCE_MS} ms)`,
    );

    const ns = await labelNamespace();
    const w = await firstWriteIn(ns, 30_000);
    assert.equal(writerOf(w).name, next.name, "the new leader serves a new namespace");
    await startReplica();
  });

  it("a leader cut off from the API server stops writing before its lease can expire for the others, and exits 1", async () => {
    const old = await waitForLeader();
    // It is writing: every credential edit has it rewrite every pull secret.
    const before = writes.byIdentity(old.identity).length;
    await waitFor(() => writes.byIdentity(old.identity).length > before, {
      timeoutMs: 10_000,
      message: `${old.name} rewriting pull secrets`,
    });
    const proxy = proxies.get(old.name);
    assert.ok(proxy);
    // Cut between two renewals (they come every retryPeriod): a renewal in flight at the cut could be
    // committed without the leader hearing of it, and the Lease would then show a later renewal than the
    // leader counts its deadline from.
    const renewals = lease.versions.length;
    await waitFor(() => lease.versions.length > renewals && lease.holder() === old.identity, {
      timeoutMs: 5_000,
      intervalMs: 10,
      message: `a renewal by ${old.name}`,
    });
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS * 0.3));
    const cutAt = Date.now();
    proxy.cut();
    const ns = await labelNamespace();

    const code = await Promise.race([
      old.proc.exited,
      new Promise<string>((resolve) =>
        setTimeout(
          () => {
            resolve("still running");
          },
          LEASE_MS + ALLOWANCE_MS + 5_000,
        ).unref(),
      ),
    ]);
    assert.equal(code, 1, "the cut-off leader exits 1");
    const exitedAt = old.exitedAt ?? Date.now();

    const w = await firstWriteIn(ns, LEASE_MS + 2 * RETRY_MS + ALLOWANCE_MS + 10_000);
    const next = writerOf(w);
    assert.notEqual(next.name, old.name, "a peer serves the new namespace");
    const term = await waitForTerm(next.identity, cutAt);
    const lastRenew = lastVersionOf(old.identity);
    assert.ok(lastRenew.rv < term.start.rv);
    /** When the old lease could expire for the others, by this observer: its last renewal seen + leaseDuration. */
    const expiresAt = lastRenew.at + LEASE_MS;
    const leadership = leadershipOf(old);
    assert.ok(leadership, `${old.name} logged its leadership`);
    assert.equal(leadership.how, "lost", `${old.name} logged "leadership lost"`);
    const oldWrites = writes.byIdentity(old.identity);
    const lastWrite = oldWrites.at(-1);
    assert.ok(lastWrite, `${old.name} wrote`);
    measure(
      `cut-off leader ${old.name}: last renewal ${secondsText(cutAt - lastRenew.at)} before the cut; gave up ` +
        `${secondsText(leadership.end - lastRenew.renewTime)} after it (renewDeadline ${secondsText(RENEW_DEADLINE_MS)}), ` +
        `exited 1 ${secondsText(exitedAt - cutAt)} after the cut; last write ${secondsText(expiresAt - lastWrite.at)} ` +
        `before its lease could expire; ${next.name} took over ${secondsText(term.start.at - cutAt)} after the cut ` +
        `and served a new namespace ${secondsText(w.at - cutAt)} after it (${secondsText(w.at - lastRenew.at)} after the last renewal)`,
    );
    // It kept trying until the renew deadline, and gave up (halting writes) before the lease could expire.
    // (Should a renewal be committed unheard after all, the leader counts from the one before: at most a
    // retryPeriod earlier.)
    assert.ok(
      leadership.end - lastRenew.renewTime >= RENEW_DEADLINE_MS - RETRY_MS - 100,
      `gave up ${leadership.end - lastRenew.renewTime} ms after its last renewal, not before renewDeadline`,
    );
    assert.ok(
      leadership.end < lastRenew.renewTime + LEASE_MS && leadership.end < expiresAt,
      `gave up at ${iso(leadership.end)}, before its lease could expire (${iso(Math.min(expiresAt, lastRenew.renewTime + LEASE_MS))})`,
    );
    assert.ok(lastWrite.at < expiresAt, `last write at ${iso(lastWrite.at)} before ${iso(expiresAt)}`);
    assert.ok(
      term.start.renewTime - lastRenew.renewTime >= LEASE_MS,
      `the takeover (${iso(term.start.renewTime)}) is at least leaseDuration after the last renewal (${iso(lastRenew.renewTime)})`,
    );
    assert.ok(
      w.at - lastRenew.at <= LEASE_MS + 2 * RETRY_MS + ALLOWANCE_MS,
      `a peer served ${w.at - lastRenew.at} ms after the last renewal`,
    );
    const late = oldWrites.filter((x) => x.rv > term.start.rv);
    assert.deepEqual(late, [], `no write by ${old.name} after the new term began`);
    // It exits soon after giving up (calls hanging on the unreachable API server do not hold it up).
    assert.ok(
      exitedAt - lastRenew.at <= RENEW_DEADLINE_MS + ALLOWANCE_MS,
      `exited ${exitedAt - lastRenew.at} ms after its last renewal`,
    );
    await startReplica();
  });

  it("SIGTERM of a follower: it exits 0 at once and leadership does not move", async () => {
    const leader = await waitForLeader();
    const follower = live().find((r) => r !== leader);
    assert.ok(follower);
    const termsBefore = lease.terms().length;
    const termAt = Date.now();
    const code = await follower.proc.stop("SIGTERM");
    const ms = Date.now() - termAt;
    measure(`follower ${follower.name} exited ${code} ${secondsText(ms)} after SIGTERM`);
    assert.equal(code, 0);
    assert.ok(ms <= 2_000 + ALLOWANCE_MS, `exited after ${ms} ms`);
    // A few more renewals, and the leader is the same: the follower neither released nor touched the Lease.
    const versions = lease.versions.length;
    await waitFor(() => lease.versions.length >= versions + 2, {
      timeoutMs: 10_000,
      message: "two more renewals",
    });
    assert.equal(lease.terms().length, termsBefore, "no new Lease term");
    assert.equal(await leaseHolder(), leader.identity);
    assert.equal(await leader.proc.metric("leader_election_master_status", { name: ELECTION }), 1);
  });

  it("throughout: never two leaders at once, and every write made by the holder of its Lease term", async () => {
    // Stop provoking writes, let the watches catch up with the last ones, then stop recording.
    const edits = (await churn?.stop()) ?? 0;
    churn = undefined;
    log(`${edits} credential secret edits provoked the leaders' rewrites`);
    assert.ok(edits > 10, `${edits} credential secret edits`);
    await delay(500);
    await sampler?.stop();
    for (const w of watches) w.stop();
    const rounds = sampler?.rounds ?? [];
    const terms = lease.terms();
    const problems = watches.flatMap((w) => w.problems);
    assert.deepEqual(problems, [], "the watches recorded everything");

    const perRound = rounds.map((r) => [...r.status.values()].filter((s) => s.value === 1).length);
    log(
      `${rounds.length} sampling rounds: ${perRound.filter((n) => n === 1).length} with one leader, ` +
        `${perRound.filter((n) => n === 0).length} with none (handovers), ${perRound.filter((n) => n > 1).length} with more`,
    );
    const inTerm = (t: Term): number =>
      writes.writes.filter((w) => w.rv > t.start.rv && (t.end === undefined || w.rv < t.end.rv)).length;
    log(
      `Lease terms:\n  ${terms
        .map((t) => {
          const who = t.holder === "" ? "(released)" : (byIdentity(t.holder)?.name ?? t.holder);
          return `${iso(t.start.at)} rv ${t.start.rv} ${who}: ${t.versions.length} versions, ${inTerm(t)} writes`;
        })
        .join("\n  ")}`,
    );
    // Every violation of each kind at once (the first 20), rather than only the first kind that fails.
    const first20 = (list: string[]): string[] =>
      list.length > 20 ? [...list.slice(0, 20), `… and ${list.length - 20} more`] : list;
    assert.deepEqual(
      {
        rounds: first20(roundProblems(rounds, replicas)),
        leaderships: first20(overlappingLeaderships(replicas)),
        writes: first20(writesOutsideTheirTerm(writes.writes, terms, replicas)),
      },
      { rounds: [], leaderships: [], writes: [] },
      "rounds: at most one replica reports 1, and it holds the Lease; leaderships: the replicas' logged " +
        "leaderships never overlap; writes: every write is by the holder of its Lease term",
    );
    // Enough was recorded for the checks above to mean something.
    assert.ok(rounds.length > 50, `sampled ${rounds.length} rounds`);
    assert.ok(perRound.some((n) => n === 1));
    assert.ok(writes.writes.length > 10, `recorded ${writes.writes.length} writes`);
    const leaders = new Set(terms.filter((t) => t.holder !== "").map((t) => t.holder));
    assert.ok(
      leaders.size >= 4,
      `four leaders in turn (initial, after SIGKILL, SIGTERM, cut): ${leaders.size}`,
    );
    for (const id of leaders) {
      assert.ok(writes.byIdentity(id).length > 0, `${byIdentity(id)?.name ?? id} wrote while it led`);
    }

    // Every leader announced itself with an Event on the Lease.
    const events = await listEvents(core, { reason: "LeaderElection", name: ELECTION, namespace: hostNs });
    for (const id of leaders) {
      assert.ok(
        events.some((e) => e.message === `${id} became leader`),
        `Event "${id} became leader": ${events.map((e) => e.message).join("; ")}`,
      );
    }
  });
});
