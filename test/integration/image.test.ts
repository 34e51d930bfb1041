/**
 * The container image, without a Docker engine: the Dockerfile is parsed and its steps replayed in temp
 * folders, one per stage (WORKDIR, COPY from a build context made of the tracked files filtered by
 * .dockerignore, COPY --from another stage, RUN npm …, ENV, USER, ENTRYPOINT). A step that fails, or one
 * the replay does not know, fails the test, so the Dockerfile cannot drift from what is tested here.
 * The final stage must hold only dist, production node_modules and package.json; its ENTRYPOINT is run
 * with Node 24 (node_modules/.bin/node) as uid 65532 from a read-only folder: `--help`, then a real run
 * against the test control plane and the local ECR endpoint (a labelled namespace gets its pull secret),
 * and SIGTERM stops it with exit code 0.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmodSync, existsSync, realpathSync } from "node:fs";
import { chmod, copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join, posix, relative } from "node:path";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import { CoreV1Api, KubeConfig, RbacAuthorizationV1Api } from "@kubernetes/client-node";
import { connectControlPlane } from "../env/control-plane.ts";
import { REPO_ROOT } from "../chart/helm.ts";
import {
  createCredentials,
  createLabelledNamespace,
  createNamespace,
  kube,
  MANAGED_BY,
  newKey,
  randomAccountId,
  readSecret,
  registryHost,
  startEcr,
  unique,
  uniqueHostNamespace,
  waitFor,
} from "./support/harness.ts";

/** The image's user (Dockerfile USER, the chart's runAsUser/runAsGroup). */
const IMAGE_UID = 65532;
/** Node 24 from the `node` dev dependency: what the image's base provides. */
const NODE_BINARY = realpathSync(join(REPO_ROOT, "node_modules", ".bin", "node"));

// ---- Dockerfile --------------------------------------------------------------------------------------

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

/** Instructions of a Dockerfile: comments dropped, continuation lines joined, keywords upper-cased. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = "";
  let startLine = 0;
  text.split("\n").forEach((raw, index) => {
    const line = raw.trimEnd();
    if (pending === "" && (line.trim() === "" || line.trimStart().startsWith("#"))) return;
    if (pending !== "" && line.trimStart().startsWith("#")) return; // comment inside a continuation
    if (pending === "") startLine = index + 1;
    if (line.endsWith("\\")) {
      pending += `${line.slice(0, -1)} `;
      return;
    }
    const full = (pending + line).trim();
    pending = "";
    const space = full.search(/\s/);
    out.push({
      keyword: (space < 0 ? full : full.slice(0, space)).toUpperCase(),
      args: space < 0 ? "" : full.slice(space + 1).trim(),
      line: startLine,
    });
  });
  return out;
}

/** `key=value` pairs (values optionally double-quoted), as in ARG, ENV and LABEL. */
function keyValues(text: string): [string, string][] {
  return [...text.matchAll(/([A-Za-z0-9_.-]+)=("(?:[^"\\]|\\.)*"|\S*)/g)].map((m) => {
    const value = m[2] ?? "";
    return [m[1] ?? "", value.startsWith('"') ? (JSON.parse(value) as string) : value];
  });
}

function substitute(text: string, vars: Record<string, string>): string {
  return text.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g,
    (_, a?: string, b?: string) => {
      return vars[a ?? b ?? ""] ?? "";
    },
  );
}

// ---- build context (.dockerignore) --------------------------------------------------------------------

function globToRegExp(pattern: string): RegExp {
  const source = pattern
    .split("**")
    .map((part) =>
      part
        .replace(/[.+^$()|[\]{}\\]/g, "\\$&")
        .replace(/\*/g, "[^/]*")
        .replace(/\?/g, "[^/]"),
    )
    .join(".*");
  return new RegExp(`^${source}$`);
}

/**
 * Docker's .dockerignore rules: patterns in order, the last match wins, `!` re-includes, and a pattern
 * matching a parent folder matches everything below it.
 */
function dockerignoreFilter(text: string): (path: string) => boolean {
  const rules = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => {
      const exclude = !l.startsWith("!");
      const pattern = posix.normalize((exclude ? l : l.slice(1)).replace(/^\/+/, "")).replace(/\/+$/, "");
      return { exclude, regexp: globToRegExp(pattern) };
    });
  return (path) => {
    const parts = path.split("/");
    const candidates = parts.map((_, i) => parts.slice(0, i + 1).join("/"));
    let included = true;
    for (const rule of rules) {
      if (candidates.some((c) => rule.regexp.test(c))) included = !rule.exclude;
    }
    return included;
  };
}

/** A clean build context: the tracked files (git ls-files) that .dockerignore lets through. */
async function buildContext(dir: string): Promise<string[]> {
  const listed = spawnSync("git", ["ls-files", "-z"], { cwd: REPO_ROOT, encoding: "utf8" });
  assert.equal(listed.status, 0, listed.stderr);
  const keep = dockerignoreFilter(await readFile(join(REPO_ROOT, ".dockerignore"), "utf8"));
  const files = listed.stdout
    .split("\0")
    .filter((f) => f !== "" && existsSync(join(REPO_ROOT, f)) && keep(f));
  for (const file of files) {
    await mkdir(dirname(join(dir, file)), { recursive: true });
    await copyFile(join(REPO_ROOT, file), join(dir, file));
  }
  return files;
}

// ---- replay -------------------------------------------------------------------------------------------

interface Stage {
  name: string;
  index: number;
  base: string;
  /** The stage's filesystem root on this machine. */
  root: string;
  workdir: string;
  env: Record<string, string>;
  args: Record<string, string>;
  labels: Record<string, string>;
  user: string | undefined;
  entrypoint: string[] | undefined;
}

/** Environment for replayed commands: Node 24 first on PATH, no npm_* variables from the outer npm run. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^npm_/i.test(k) && k !== "INIT_CWD" && !k.startsWith("KUBE") && !k.startsWith("EATR_")) env[k] = v;
  }
  return { ...env, ...extra, PATH: `${dirname(NODE_BINARY)}:${extra.PATH ?? process.env.PATH ?? ""}` };
}

function inStage(stage: Stage, path: string): string {
  const absolute = posix.isAbsolute(path) ? path : posix.join(stage.workdir, path);
  return join(stage.root, posix.normalize(absolute));
}

async function copyInto(source: string, destination: string, intoDir: boolean): Promise<void> {
  const info = await stat(source);
  if (info.isDirectory()) {
    await mkdir(destination, { recursive: true });
    for (const entry of await readdir(source)) {
      await copyInto(join(source, entry), join(destination, entry), false);
    }
    return;
  }
  const target = intoDir ? join(destination, basename(source)) : destination;
  await mkdir(dirname(target), { recursive: true });
  await copyFile(source, target);
  await chmod(target, info.mode & 0o777);
}

interface Replay {
  stages: Stage[];
  final: Stage;
  steps: { stage: string; step: string; ms: number }[];
}

/** Replays every stage of the Dockerfile under `work`; throws on a failing or unknown step. */
async function replay(dockerfile: string, context: string, work: string): Promise<Replay> {
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  const steps: Replay["steps"] = [];
  let stage: Stage | undefined;
  for (const { keyword, args, line } of parseDockerfile(dockerfile)) {
    const where = `Dockerfile:${line} ${keyword} ${args}`;
    if (keyword === "ARG") {
      const [name = "", value] = args.includes("=") ? (keyValues(args)[0] ?? []) : [args.trim(), undefined];
      if (stage === undefined) globalArgs[name] = value ?? "";
      else stage.args[name] = value ?? globalArgs[name] ?? "";
      continue;
    }
    if (keyword === "FROM") {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      assert.ok(m, `${where}: unexpected FROM`);
      const index = stages.length;
      const name = m[2] ?? String(index);
      const root = join(work, `stage-${index}-${name}`);
      await mkdir(root, { recursive: true });
      stage = {
        name,
        index,
        base: substitute(m[1] ?? "", globalArgs),
        root,
        workdir: "/",
        env: {},
        args: {},
        labels: {},
        user: undefined,
        entrypoint: undefined,
      };
      stages.push(stage);
      continue;
    }
    assert.ok(stage, `${where}: before any FROM`);
    const vars = { ...stage.args, ...stage.env };
    const started = performance.now();
    switch (keyword) {
      case "WORKDIR":
        stage.workdir = posix.resolve(stage.workdir, substitute(args, vars));
        await mkdir(inStage(stage, stage.workdir), { recursive: true });
        break;
      case "ENV":
        for (const [k, v] of keyValues(args)) stage.env[k] = substitute(v, vars);
        break;
      case "LABEL":
        for (const [k, v] of keyValues(args)) stage.labels[k] = substitute(v, vars);
        break;
      case "USER":
        stage.user = substitute(args, vars);
        break;
      case "EXPOSE":
        break;
      case "ENTRYPOINT":
        stage.entrypoint = JSON.parse(args) as string[];
        break;
      case "COPY": {
        const words = substitute(args, vars).split(/\s+/);
        const options = words.filter((w) => w.startsWith("--"));
        const paths = words.filter((w) => !w.startsWith("--"));
        const from = options.find((o) => o.startsWith("--from="))?.slice("--from=".length);
        for (const o of options) {
          assert.ok(/^--(from|chown|chmod|link)(=|$)/.test(o), `${where}: the replay does not know ${o}`);
        }
        const destination = paths.pop() ?? "";
        assert.ok(paths.length > 0, `${where}: no source`);
        const intoDir = destination.endsWith("/") || paths.length > 1;
        for (const source of paths) {
          assert.ok(!/[*?[]/.test(source), `${where}: the replay does not expand globs`);
          let path: string;
          if (from === undefined) {
            path = join(context, source);
            assert.ok(
              existsSync(path),
              `${where}: ${source} is not in the build context (tracked and not in .dockerignore)`,
            );
          } else {
            const other = stages.find((s) => s.name === from || String(s.index) === from);
            assert.ok(other && other !== stage, `${where}: no earlier stage ${from}`);
            path = inStage(other, source);
            assert.ok(existsSync(path), `${where}: stage ${from} has no ${source}`);
          }
          await copyInto(path, inStage(stage, destination), intoDir);
        }
        break;
      }
      case "RUN": {
        assert.ok(!args.startsWith("["), `${where}: exec-form RUN is not replayed`);
        const command = substitute(args, vars);
        // Only npm commands are replayed: anything else could touch this machine outside the stage.
        assert.ok(
          /^npm (ci|run|prune|cache)\b[^;&|`$<>]*$/.test(command),
          `${where}: the replay only runs plain npm commands`,
        );
        const result = spawnSync("sh", ["-c", command], {
          cwd: inStage(stage, stage.workdir),
          env: cleanEnv(stage.env),
          encoding: "utf8",
          maxBuffer: 64 * 1024 * 1024,
          timeout: 600_000,
        });
        assert.equal(result.status, 0, `${where} failed:\n${result.stdout}\n${result.stderr}`);
        break;
      }
      default:
        assert.fail(`${where}: the replay does not know ${keyword}; teach test/integration/image.test.ts`);
    }
    if (keyword === "RUN" || keyword === "COPY") {
      steps.push({
        stage: stage.name,
        step: `${keyword} ${args}`,
        ms: Math.round(performance.now() - started),
      });
    }
  }
  const final = stages.at(-1);
  assert.ok(final, "the Dockerfile has a stage");
  return { stages, final, steps };
}

// ---- running the image's entrypoint as uid 65532 ------------------------------------------------------

/** `command args` run as uid 65532 (setpriv when we are root, as the tests are here; as is otherwise). */
function asImageUser(command: string, args: string[]): { command: string; argv: string[] } {
  if (process.getuid?.() !== 0) return { command, argv: args };
  return {
    command: "setpriv",
    argv: [`--reuid=${IMAGE_UID}`, `--regid=${IMAGE_UID}`, "--clear-groups", "--", command, ...args],
  };
}

/** The final stage's ENTRYPOINT plus `args`, mapped onto this machine, as uid 65532. */
function entrypointCommand(final: Stage, args: string[]): { command: string; argv: string[] } {
  const [program, ...rest] = final.entrypoint ?? [];
  assert.equal(program, "node", "the ENTRYPOINT runs node");
  return asImageUser(NODE_BINARY, [...rest.map((a) => (a.startsWith("/") ? inStage(final, a) : a)), ...args]);
}

function imageEnv(final: Stage): NodeJS.ProcessEnv {
  // What the container gets: the image's ENV and a PATH; no KUBECONFIG, no AWS variables. HOME=/ as
  // Docker sets it for a user without a passwd entry.
  return { ...final.env, PATH: `${dirname(NODE_BINARY)}:/usr/bin:/bin`, HOME: "/" };
}

/** Files under the temp folder owned by the image's uid (the run must create none). */
function filesOwnedByImageUser(): string[] {
  const found = spawnSync("find", [tmpdir(), "-xdev", "-uid", String(IMAGE_UID)], { encoding: "utf8" });
  return found.stdout.split("\n").filter((l) => l !== "");
}

describe("container image (Dockerfile replayed without Docker)", () => {
  let work: string;
  let result: Replay | undefined;
  const children = new Set<ChildProcess>();

  before(async () => {
    work = await mkdtemp(join(tmpdir(), "eatr-image-"));
    await chmod(work, 0o755);
  });

  after(async () => {
    for (const child of children) child.kill("SIGKILL");
    await rm(work, { recursive: true, force: true });
  });
  process.on("exit", () => {
    for (const child of children) child.kill("SIGKILL");
  });

  it("the Dockerfile's steps replay: build stage (npm ci, build: the bundle), final stage", async () => {
    const dockerfile = await readFile(join(REPO_ROOT, "Dockerfile"), "utf8");
    const context = join(work, "context");
    const started = performance.now();
    const files = await buildContext(context);
    assert.ok(files.includes("package.json") && files.includes("src/main.ts"), files.join(" "));
    for (const f of files) {
      assert.ok(
        !/^(test|charts|\.git|node_modules|dist)\/|^\.env|kubeconfig/.test(f),
        `${f} stays out of the context`,
      );
    }
    const replayed = await replay(dockerfile, context, work);
    for (const s of replayed.steps)
      console.log(`  ${s.stage.padEnd(6)} ${s.step.slice(0, 70).padEnd(70)} ${s.ms} ms`);
    console.log(`image replay: ${files.length} context files, ${Math.round(performance.now() - started)} ms`);

    // Every stage is based on the same exact Node 24 image, the version CI tests with.
    const lock = JSON.parse(await readFile(join(REPO_ROOT, "package-lock.json"), "utf8")) as {
      packages: Record<string, { version?: string; dev?: boolean; optional?: boolean }>;
    };
    const nodeVersion = lock.packages["node_modules/node"]?.version;
    for (const stage of replayed.stages) {
      assert.equal(stage.base, `node:${nodeVersion ?? "?"}-trixie-slim`, `stage ${stage.name} base image`);
    }
    assert.equal(replayed.stages.length, 2);

    const { final } = replayed;
    assert.equal(final.user, `${IMAGE_UID}:${IMAGE_UID}`);
    assert.equal(final.env.NODE_ENV, "production");
    assert.deepEqual(final.entrypoint, [
      "node",
      "--max-old-space-size-percentage=50",
      "--max-semi-space-size=4",
      "/app/dist/main.js",
    ]);
    for (const label of ["title", "description", "licenses", "version", "revision", "base.name"]) {
      assert.ok(`org.opencontainers.image.${label}` in final.labels, `OCI label ${label}`);
    }
    assert.equal(final.labels["org.opencontainers.image.licenses"], "MIT");

    // Only the bundle (with its map and licenses) and package.json: no node_modules at all.
    const app = inStage(final, "/app");
    assert.deepEqual((await readdir(app)).sort(), ["dist", "package.json"]);
    assert.deepEqual(await readdir(final.root), ["app"]);
    // dist/main.js is the entry (the Node version check), dist/eatr.js the bundle it loads.
    assert.deepEqual((await readdir(join(app, "dist"))).sort(), [
      "THIRD_PARTY_LICENSES.txt",
      "eatr.js",
      "eatr.js.LEGAL.txt",
      "eatr.js.map",
      "main.js",
    ]);
    // Every production dependency is bundled and its license shipped.
    const pkg = JSON.parse(await readFile(join(REPO_ROOT, "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
    };
    const licenses = await readFile(join(app, "dist", "THIRD_PARTY_LICENSES.txt"), "utf8");
    for (const dep of Object.keys(pkg.dependencies)) {
      const version = lock.packages[`node_modules/${dep}`]?.version ?? "?";
      assert.ok(licenses.includes(`${dep}@${version} (`), `${dep}@${version}'s license is in the image`);
    }
    // Read-only, as the pod's readOnlyRootFilesystem makes it.
    assert.equal(spawnSync("chmod", ["-R", "a-w", final.root]).status, 0);
    result = replayed; // the next tests run the image only if it is complete
  });

  it("node dist/main.js --help runs as uid 65532 from the read-only image", () => {
    assert.ok(result, "the replay ran");
    const { command, argv } = entrypointCommand(result.final, ["--help"]);
    const help = spawnSync(command, argv, {
      cwd: inStage(result.final, "/app"),
      env: imageEnv(result.final),
      encoding: "utf8",
    });
    assert.equal(help.status, 0, `${help.stdout}${help.stderr}`);
    assert.match(help.stdout, /^Usage: eatr/m);
    const version = entrypointCommand(result.final, ["--version"]);
    const printed = spawnSync(version.command, version.argv, {
      cwd: inStage(result.final, "/app"),
      env: imageEnv(result.final),
      encoding: "utf8",
    });
    assert.equal(printed.status, 0, printed.stderr);
    assert.match(printed.stdout, /0\.1\.0/, "package.json is in the image (--version reads it)");

    // Really not root, really read-only.
    const shell = asImageUser("sh", ["-c", "id -u; touch dist/probe 2>/dev/null || echo read-only"]);
    const probe = spawnSync(shell.command, shell.argv, {
      cwd: inStage(result.final, "/app"),
      encoding: "utf8",
    });
    assert.match(probe.stdout, new RegExp(`^${IMAGE_UID}\\n`));
    assert.match(probe.stdout, /read-only/);
  });

  it("the image's entrypoint, as uid 65532 with a ServiceAccount token, gives a labelled namespace its pull secret and stops on SIGTERM", async () => {
    assert.ok(result, "the replay ran");
    const { kc, core } = kube();
    // A ServiceAccount token (readable by uid 65532): the admin's client certificate stays root's.
    const saNs = unique("image-sa");
    await createNamespace(core, saNs);
    await core.createNamespacedServiceAccount({ namespace: saNs, body: { metadata: { name: "eatr" } } });
    await kc.makeApiClient(RbacAuthorizationV1Api).createClusterRoleBinding({
      body: {
        metadata: { name: saNs },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" },
        subjects: [{ kind: "ServiceAccount", name: "eatr", namespace: saNs }],
      },
    });
    const token = (
      await core.createNamespacedServiceAccountToken({
        name: "eatr",
        namespace: saNs,
        body: { spec: { audiences: [], expirationSeconds: 3600 } },
      })
    ).status?.token;
    assert.ok(token);
    const kubeconfig = join(work, "kubeconfig.yaml");
    await writeFile(
      kubeconfig,
      await readFile(await connectControlPlane().kubeconfigForToken(token, "image"), "utf8"),
    );
    chmodSync(kubeconfig, 0o444);
    const tokenConfig = new KubeConfig();
    tokenConfig.loadFromFile(kubeconfig);
    await waitFor(
      () =>
        tokenConfig
          .makeApiClient(CoreV1Api)
          .listNamespace()
          .then(() => true),
      {
        message: "the token to be authorised",
      },
    );

    const hostNs = uniqueHostNamespace();
    const key = newKey(randomAccountId());
    const host = registryHost(key.accountId, "eu-west-1");
    const ecr = await startEcr([key]);
    await createCredentials(core, hostNs, host, key);
    const ns = unique("image");
    await createLabelledNamespace(core, ns, [host]);

    const ownedBefore = filesOwnedByImageUser();
    const { command, argv } = entrypointCommand(result.final, [
      "-config-file-path",
      kubeconfig,
      "-port",
      "0",
      "-ecr-endpoint",
      ecr.endpoint,
      "-host-namespace",
      hostNs,
    ]);
    const child = spawn(command, argv, {
      cwd: inStage(result.final, "/app"),
      env: imageEnv(result.final),
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.add(child);
    const lines: string[] = [];
    const exited = new Promise<number>((resolve) => {
      child.once("exit", (code, signal) => {
        children.delete(child);
        resolve(code ?? (signal === null ? 1 : 128 + 15));
      });
    });
    createInterface({ input: child.stdout }).on("line", (l) => lines.push(l));
    createInterface({ input: child.stderr }).on("line", (l) => lines.push(l));
    try {
      const port = await waitFor(
        () => {
          if (child.exitCode !== null) throw new Error(`eatr exited ${child.exitCode}:\n${lines.join("\n")}`);
          for (const line of lines) {
            try {
              const rec = JSON.parse(line) as { port?: unknown; msg?: unknown };
              if (typeof rec.port === "number" && String(rec.msg).startsWith("serving")) return rec.port;
            } catch {
              // not JSON
            }
          }
          return undefined;
        },
        { message: "eatr to log its port" },
      );
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200, {
        message: "/readyz 200",
      });
      const secret = await waitFor(() => readSecret(core, ns, host), {
        message: `pull secret ${ns}/${host}`,
      });
      assert.equal(secret.metadata?.labels?.[MANAGED_BY.key], MANAGED_BY.value);
      assert.equal(secret.type, "kubernetes.io/dockerconfigjson");
    } finally {
      if (child.exitCode === null) child.kill("SIGTERM");
    }
    assert.equal(await exited, 0, `SIGTERM exits 0:\n${lines.slice(-5).join("\n")}`);
    assert.ok(!lines.some((l) => /EACCES|EROFS|read-only file system/i.test(l)), "no write was attempted");
    assert.deepEqual(filesOwnedByImageUser(), ownedBefore, "uid 65532 created no file");
    console.log(
      `ran as uid ${IMAGE_UID} from ${relative(work, result.final.root)}/app (read-only), ${lines.length} log lines`,
    );
  });
});
