/**
 * The nemesis: a fault every 3-9 s when its lane is free. Process-level faults (kills, cuts, restarts)
 * one at a time; each AWS lane (ECR failures, latency, token lifetime, STS, wrong keys) one at a time;
 * different lanes overlap freely.
 */
import type { Prng } from "./prng.ts";
import type { Fault, Profile, Registry, Step } from "./schedule.ts";

export function nemesisSteps(p: Prng, profile: Profile, registries: readonly Registry[]): { steps: Step[] } {
  const steps: Step[] = [];
  const push = (at: number, action: Fault): void => {
    steps.push({ at, actor: "nemesis", action });
  };
  const end = profile.durationMs - 5_000;
  const hasRole = registries.some((r) => r.role);
  // Process-level faults (kills, cuts, restarts) one at a time; each AWS channel one fault at a time;
  // faults of different kinds overlap freely.
  let processFree = 0;
  let ecrFree = 0;
  let latencyFree = 0;
  let tokensFree = 0;
  let stsFree = 0;
  let keyFree = 0;
  for (let t = 6_000; t < end; t += p.int(3_000, 9_000)) {
    const kind = p.weighted({
      "leader-kill": 3,
      "leader-term": 2,
      "cut-leader": 2,
      "cut-follower": 1.5,
      "apiserver-restart": 2,
      "compact-restart": 1.5,
      "ecr-fail": 3,
      "ecr-slow": 1.5,
      "ecr-short-tokens": 1.5,
      "sts-fail": hasRole ? 1.5 : 0,
      "wrong-key": 1.5,
    });
    const windowEnd = (lo: number, hi: number): number => Math.min(end, t + p.int(lo, hi));
    switch (kind) {
      case "leader-kill":
      case "leader-term": {
        if (t < processFree) break;
        push(t, { kind });
        push(t + p.int(2_000, 6_000), { kind: "ensure-replicas" });
        processFree = t + 12_000;
        break;
      }
      case "cut-leader":
      case "cut-follower": {
        if (t < processFree) break;
        const heal = windowEnd(6_000, 14_000);
        push(t, { kind: "cut", target: kind === "cut-leader" ? "leader" : "follower" });
        push(heal, { kind: "heal" });
        push(heal + 1_000, { kind: "ensure-replicas" });
        processFree = heal + 8_000;
        break;
      }
      case "apiserver-restart":
      case "compact-restart": {
        if (t < processFree) break;
        push(t, { kind });
        push(t + 10_000, { kind: "ensure-replicas" });
        processFree = t + 16_000;
        break;
      }
      case "ecr-fail": {
        if (t < ecrFree) break;
        const to = windowEnd(4_000, 20_000);
        push(t, { kind, mode: p.pick(["throttle", "server", "disconnect", "access-denied"] as const) });
        push(to, { kind: "ecr-ok" });
        ecrFree = to + 2_000;
        break;
      }
      case "ecr-slow": {
        if (t < latencyFree) break;
        const to = windowEnd(8_000, 25_000);
        // 3 s: slow but answered; 12 s: beyond eatr's 10 s call timeout.
        push(t, { kind, latencyMs: p.pick([3_000, 12_000]) });
        push(to, { kind: "ecr-fast" });
        latencyFree = to + 2_000;
        break;
      }
      case "ecr-short-tokens": {
        if (t < tokensFree) break;
        const to = windowEnd(15_000, 40_000);
        push(t, { kind, lifetimeMs: p.pick([90_000, 150_000]) });
        push(to, { kind: "ecr-normal-tokens" });
        tokensFree = to + 2_000;
        break;
      }
      case "sts-fail": {
        if (t < stsFree) break;
        const to = windowEnd(4_000, 20_000);
        push(t, { kind, mode: p.pick(["throttle", "server"] as const) });
        push(to, { kind: "sts-ok" });
        stsFree = to + 2_000;
        break;
      }
      case "wrong-key": {
        if (t < keyFree) break;
        const registry = p.int(0, registries.length - 1);
        const to = windowEnd(6_000, 20_000);
        push(t, { kind, registry });
        push(to, { kind: "right-key", registry });
        keyFree = to + 2_000;
        break;
      }
    }
  }
  return { steps };
}
