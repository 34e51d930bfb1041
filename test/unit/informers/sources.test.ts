import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1Secret } from "@kubernetes/client-node";
import { createSources } from "../../../src/informers/sources.ts";
import type { ListPage, RequestOptions, RestClient } from "../../../src/kube/rest.ts";
import { METADATA_ONLY, METADATA_ONLY_LIST } from "../../../src/kube/rest.ts";
import { FakeClock } from "../../support/fake-clock.ts";

const A = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
const B = "210987654321.dkr.ecr.us-east-1.amazonaws.com";

interface Call {
  kind: "list" | "watch";
  path: string;
  query: Record<string, unknown>;
  accept: string | undefined;
}

/** Records every list and watch; lists answer `items[path]` (one page), watches stay open. */
class FakeRest {
  readonly server = "https://127.0.0.1:6443";
  calls: Call[] = [];
  items = new Map<string, unknown[]>();

  async *listPages<T>(path: string, options: RequestOptions = {}): AsyncGenerator<ListPage<T>> {
    this.calls.push({ kind: "list", path, query: { ...options.query }, accept: options.accept });
    await Promise.resolve();
    const all = (this.items.get(path) ?? []) as T[];
    const selector = options.query?.fieldSelector;
    const name = typeof selector === "string" ? selector.replace(/^metadata\.name=/, "") : undefined;
    yield {
      items: all.filter((o) => name === undefined || (o as V1Secret).metadata?.name === name),
      resourceVersion: "1",
    };
  }

  watch(
    path: string,
    query: Record<string, unknown>,
    _callback: unknown,
    done: (err: unknown) => void,
    options?: { accept?: string },
  ): Promise<AbortController> {
    this.calls.push({ kind: "watch", path, query, accept: options?.accept });
    const controller = new AbortController();
    controller.signal.addEventListener("abort", () => {
      done(null);
    });
    return Promise.resolve(controller);
  }
}

function sources(restrictTo?: string[]) {
  const rest = new FakeRest();
  const s = createSources({
    rest: rest as unknown as RestClient,
    clock: new FakeClock(0),
    hostNamespace: "ci-cd",
    credentialsSecretPrefix: "eatr-aws-credentials",
    enqueue: () => undefined,
    credentialsChanged: () => undefined,
    ...(restrictTo === undefined ? {} : { restrictTo }),
  });
  return { rest, s };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

const pullSecret = (namespace: string, name: string, managed: boolean): V1Secret => ({
  apiVersion: "meta.k8s.io/v1",
  kind: "PartialObjectMetadata",
  metadata: {
    name,
    namespace,
    resourceVersion: "3",
    ...(managed ? { labels: { "app.kubernetes.io/managed-by": "eatr" } } : {}),
  },
});

describe("createSources", () => {
  it("default mode: one label-selected metadata-only watch of pull secrets, the whole host namespace", async () => {
    const { rest, s } = sources();
    assert.deepEqual(
      s.all().map((i) => i.name),
      ["namespaces", "credentials", "managed-secrets"],
    );
    for (const i of s.all()) i.start();
    await settle();
    const secrets = rest.calls.filter((c) => c.path === "/api/v1/secrets");
    assert.deepEqual(
      secrets.map((c) => [c.kind, c.query.labelSelector, c.query.fieldSelector, c.accept]),
      [
        ["list", "app.kubernetes.io/managed-by=eatr", undefined, METADATA_ONLY_LIST],
        ["watch", "app.kubernetes.io/managed-by=eatr", undefined, METADATA_ONLY],
      ],
    );
    const credentials = rest.calls.filter((c) => c.path === "/api/v1/namespaces/ci-cd/secrets");
    assert.deepEqual(
      credentials.map((c) => [c.kind, c.query.fieldSelector, c.accept]),
      [
        ["list", undefined, undefined],
        ["watch", undefined, undefined],
      ],
      "credential secrets are read whole (their data is the credentials)",
    );
    for (const i of s.all()) await i.stop();
  });

  it("restricted: one watch per declared host, by name, for pull secrets and credential secrets", async () => {
    const { rest, s } = sources([A, B]);
    assert.deepEqual(
      s.all().map((i) => i.name),
      ["namespaces", `credentials/${A}`, `credentials/${B}`, `pull-secrets/${A}`, `pull-secrets/${B}`],
    );
    rest.items.set("/api/v1/secrets", [
      pullSecret("team-a", A, true),
      pullSecret("team-b", A, false),
      pullSecret("team-a", B, true),
    ]);
    rest.items.set("/api/v1/namespaces/ci-cd/secrets", [
      { metadata: { name: `eatr-aws-credentials-${A}`, namespace: "ci-cd", resourceVersion: "2" } },
    ]);
    for (const i of s.all()) i.start();
    await settle();
    const selectors = rest.calls
      .filter((c) => c.path !== "/api/v1/namespaces")
      .map(
        (c) =>
          `${c.kind} ${c.path} ${String(c.query.fieldSelector)} ${String(c.query.labelSelector)} ${String(c.accept)}`,
      )
      .sort();
    assert.deepEqual(selectors, [
      `list /api/v1/namespaces/ci-cd/secrets metadata.name=eatr-aws-credentials-${A} undefined undefined`,
      `list /api/v1/namespaces/ci-cd/secrets metadata.name=eatr-aws-credentials-${B} undefined undefined`,
      `list /api/v1/secrets metadata.name=${A} undefined ${METADATA_ONLY_LIST}`,
      `list /api/v1/secrets metadata.name=${B} undefined ${METADATA_ONLY_LIST}`,
      `watch /api/v1/namespaces/ci-cd/secrets metadata.name=eatr-aws-credentials-${A} undefined undefined`,
      `watch /api/v1/namespaces/ci-cd/secrets metadata.name=eatr-aws-credentials-${B} undefined undefined`,
      `watch /api/v1/secrets metadata.name=${A} undefined ${METADATA_ONLY}`,
      `watch /api/v1/secrets metadata.name=${B} undefined ${METADATA_ONLY}`,
    ]);
    // One cache for the reconciler, whichever watch holds the object.
    assert.deepEqual(
      s.managedSecrets
        .list("team-a")
        .map((x) => x.metadata?.name)
        .sort(),
      [A, B].sort(),
    );
    assert.equal(
      s.managedSecrets.get(A, "team-b")?.contentsByEatr,
      false,
      "someone else's: seen, not trusted",
    );
    assert.equal(s.managedSecrets.get("db-password", "team-a"), undefined);
    assert.ok(s.credentials.get(`eatr-aws-credentials-${A}`, "ci-cd"));
    assert.equal(s.credentials.get(`eatr-aws-credentials-${B}`, "ci-cd"), undefined);
    for (const i of s.all()) await i.stop();
  });
});
