/**
 * Runs the controller under a memory limit, as a Kubernetes pod does: a memory cgroup (v2 or v1) of its own
 * whose limit is the chart's `resources.limits.memory`. Node sizes V8's heap from that limit
 * (process.constrainedMemory()), exactly as it does in the pod, so the bench measures the deployed
 * configuration; and a controller that outgrows the limit is OOM-killed here as it would be there.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";

export interface MemoryLimit {
  readonly bytes: number;
  /** command + args that run `command args…` inside a fresh cgroup with the limit. */
  wrap(
    name: string,
    command: string,
    args: readonly string[],
  ): { command: string; args: string[]; cgroup: string };
  /** Whether the cgroup's limit was hit (an OOM kill), then removes it. Call once its process has exited. */
  release(cgroup: string): { oomKilled: boolean };
}

/** "256Mi", "1Gi", "200M", "123456" → bytes. */
export function parseQuantity(q: string): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|K|M|G)?$/.exec(q.trim());
  if (!m) throw new Error(`memory limit ${JSON.stringify(q)}: expected a Kubernetes quantity such as 256Mi`);
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, K: 1e3, M: 1e6, G: 1e9 }[m[2] ?? ""] ?? 1;
  return Math.round(Number(m[1]) * unit);
}

/** The chart's default `resources.limits.memory` (charts/eatr/values.yaml). */
export function chartMemoryLimit(repoRoot: string): string {
  const values = parseYaml(readFileSync(join(repoRoot, "charts", "eatr", "values.yaml"), "utf8")) as {
    resources?: { limits?: { memory?: unknown } };
  };
  const memory = values.resources?.limits?.memory;
  if (typeof memory !== "string" || memory === "")
    throw new Error("charts/eatr/values.yaml: no resources.limits.memory");
  return memory;
}

/**
 * The node flags of the image's ENTRYPOINT (Dockerfile: `["node", …flags, "/app/dist/main.js"]`), so the
 * bench runs the controller as the image does.
 */
export function imageNodeFlags(repoRoot: string): string[] {
  const dockerfile = readFileSync(join(repoRoot, "Dockerfile"), "utf8");
  const m = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(dockerfile);
  if (!m?.[1]) throw new Error("Dockerfile: no exec-form ENTRYPOINT");
  const argv = JSON.parse(m[1]) as string[];
  if (argv[0] !== "node" || argv.at(-1) !== "/app/dist/main.js")
    throw new Error(`Dockerfile ENTRYPOINT ${m[1]}: expected ["node", …flags, "/app/dist/main.js"]`);
  return argv.slice(1, -1);
}

/**
 * The environment the image's final stage sets (Dockerfile `ENV K=V` after the last FROM), so the bench
 * runs the controller with it (NODE_ENV, MALLOC_ARENA_MAX).
 */
export function imageEnv(repoRoot: string): Record<string, string> {
  const dockerfile = readFileSync(join(repoRoot, "Dockerfile"), "utf8");
  const final = dockerfile.slice(dockerfile.lastIndexOf("\nFROM "));
  const env: Record<string, string> = {};
  for (const m of final.matchAll(/^ENV\s+([A-Za-z_][A-Za-z0-9_]*)=(\S*)\s*$/gm))
    if (m[1] !== undefined) env[m[1]] = (m[2] ?? "").replace(/^"(.*)"$/, "$1");
  return env;
}

/** Where this process's memory cgroup lives, and its version; undefined without a writable one. */
function ownMemoryCgroup(): { dir: string; v2: boolean } | undefined {
  const lines = readFileSync("/proc/self/cgroup", "utf8").split("\n");
  const v1 = lines.map((l) => l.split(":")).find((f) => f[1]?.split(",").includes("memory"));
  if (v1?.[2] !== undefined) {
    const dir = join("/sys/fs/cgroup/memory", v1[2]);
    if (existsSync(join(dir, "memory.limit_in_bytes"))) return { dir, v2: false };
  }
  const v2 = lines.find((l) => l.startsWith("0::"));
  if (v2 !== undefined) {
    const base = existsSync("/sys/fs/cgroup/cgroup.controllers")
      ? "/sys/fs/cgroup"
      : "/sys/fs/cgroup/unified";
    const dir = join(base, v2.slice(3));
    const controllers = existsSync(join(dir, "cgroup.subtree_control"))
      ? readFileSync(join(dir, "cgroup.subtree_control"), "utf8")
      : "";
    if (controllers.split(/\s+/).includes("memory")) return { dir, v2: true };
  }
  return undefined;
}

/**
 * A MemoryLimit of `bytes`, or the reason there can't be one here (no writable memory cgroup: then the
 * bench runs the controller without a limit and says so).
 */
export function memoryLimit(bytes: number): MemoryLimit | string {
  const own = ownMemoryCgroup();
  if (own === undefined) return "no writable memory cgroup on this machine";
  const prefix = `eatr-bench-${String(process.pid)}-`;
  // Leftovers of benches that were killed: empty cgroups named after a pid that is gone.
  for (const entry of readdirSync(own.dir)) {
    const pid = /^eatr-bench-(\d+)-/.exec(entry)?.[1];
    if (pid !== undefined && !existsSync(`/proc/${pid}`)) {
      try {
        rmdirSync(join(own.dir, entry));
      } catch {
        // still has a process, or not ours to remove
      }
    }
  }
  let seq = 0;
  try {
    const probe = join(own.dir, `${prefix}probe`);
    mkdirSync(probe);
    rmdirSync(probe);
  } catch (err) {
    return `cannot create a memory cgroup under ${own.dir}: ${(err as Error).message}`;
  }
  return {
    bytes,
    wrap(name, command, args) {
      const cgroup = join(own.dir, `${prefix}${String(++seq)}-${name.replace(/[^a-z0-9-]/gi, "")}`);
      mkdirSync(cgroup);
      writeFileSync(join(cgroup, own.v2 ? "memory.max" : "memory.limit_in_bytes"), String(bytes));
      if (own.v2) writeFileSync(join(cgroup, "memory.swap.max"), "0");
      // The shell joins the cgroup, then becomes the controller (same pid): Node reads the limit at startup.
      return {
        command: "/bin/sh",
        args: ["-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroup, command, ...args],
        cgroup,
      };
    },
    release(cgroup) {
      let oomKilled = false;
      try {
        if (own.v2) {
          oomKilled = /^oom_kill [1-9]/m.test(readFileSync(join(cgroup, "memory.events"), "utf8"));
        } else {
          oomKilled = /^oom_kill [1-9]/m.test(readFileSync(join(cgroup, "memory.oom_control"), "utf8"));
        }
      } catch {
        // counters unavailable: report no kill
      }
      try {
        rmdirSync(cgroup);
      } catch {
        // a process is still inside (it is being killed): the next bench removes it
      }
      return { oomKilled };
    },
  };
}
