import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KubeApiError, type RequestOptions } from "../../../src/kube/rest.ts";
import { readCluster, StatusReadError, type ReadClient } from "../../../src/status/cluster-reader.ts";

const A = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";
const B = "210987654321.dkr.ecr.us-east-1.amazonaws.com";
const SECRET_VALUE = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const b64 = (s: string) => Buffer.from(s).toString("base64");

interface Call {
  method: "get" | "list";
  path: string;
  accept: string | undefined;
  query: RequestOptions["query"];
}

/** A fake API: answers exactly the paths it knows; any other call fails the test. */
function fakeClient(
  objects: Record<string, unknown>,
  lists: Record<string, unknown[]>,
): ReadClient & { calls: Call[] } {
  const calls: Call[] = [];
  return {
    calls,
    get: <T>(path: string, options?: RequestOptions): Promise<T> => {
      calls.push({ method: "get", path, accept: options?.accept, query: options?.query });
      if (!(path in objects)) throw new Error(`unexpected GET ${path}`);
      const found = objects[path];
      if (found === 404) return Promise.reject(new KubeApiError("GET", path, 404, "{}"));
      return Promise.resolve(found as T);
    },
    // eslint-disable-next-line @typescript-eslint/require-await
    listPages: async function* (path: string, options?: RequestOptions) {
      calls.push({ method: "list", path, accept: options?.accept, query: options?.query });
      const key = `${path}?${String(options?.query?.labelSelector ?? options?.query?.fieldSelector ?? "")}`;
      const items = lists[key];
      if (items === undefined) throw new Error(`unexpected list ${key}`);
      yield { items: items as never[], resourceVersion: "1" };
    },
  };
}

const EVENT_LISTS = {
  "/api/v1/namespaces/ci-cd/events?type=Warning,reason=InvalidCredentials": [],
  "/api/v1/namespaces/ci-cd/events?type=Warning,reason=TokenRequestFailed": [
    {
      metadata: { namespace: "ci-cd" },
      reason: "TokenRequestFailed",
      message: "ECR said no.",
      count: 3,
      involvedObject: { kind: "Secret", namespace: "ci-cd", name: `eatr-aws-credentials-${A}`, uid: "u1" },
      lastTimestamp: "2026-12-02T11:00:00Z",
    },
  ],
  "/api/v1/events?type=Warning,reason=SecretImmutable": [],
  "/api/v1/events?type=Warning,reason=SecretContested": [],
};

void describe("readCluster", () => {
  void it("reads metadata only where enough, GETs only the missing pull secrets, keeps key names only", async () => {
    const client = fakeClient(
      {
        [`/api/v1/namespaces/team-b/secrets/${A}`]: {
          metadata: { name: A, namespace: "team-b", uid: "x", labels: {} },
        },
        [`/api/v1/namespaces/team-c/secrets/${B}`]: 404,
        [`/api/v1/namespaces/ci-cd/secrets/eatr-aws-credentials-${A}`]: {
          metadata: {
            name: `eatr-aws-credentials-${A}`,
            namespace: "ci-cd",
            creationTimestamp: "2026-12-01T10:00:00Z",
            managedFields: [{ time: "2026-12-02T09:00:00Z" }, { time: "2026-12-01T11:00:00Z" }],
          },
          data: {
            aws_access_key_id: b64("AKIAEXAMPLE"),
            aws_secret_access_key: b64(SECRET_VALUE),
            aws_web_identity: b64("true"),
          },
        },
        [`/api/v1/namespaces/ci-cd/secrets/eatr-aws-credentials-${B}`]: 404,
        "/apis/coordination.k8s.io/v1/namespaces/ci-cd/leases/eatr": {
          spec: {
            holderIdentity: "pod-1",
            renewTime: "2026-12-02T11:59:59.123456Z",
            leaseDurationSeconds: 15,
          },
        },
      },
      {
        "/api/v1/namespaces?": [
          { metadata: { name: "team-a", labels: { [A]: "true" } } },
          { metadata: { name: "team-b", labels: { [A]: "true" } } },
          { metadata: { name: "team-c", labels: { [B]: "true" } } },
          { metadata: { name: "gone", labels: { [B]: "true" }, deletionTimestamp: "2026-12-02T00:00:00Z" } },
        ],
        "/api/v1/secrets?app.kubernetes.io/managed-by=eatr": [
          {
            metadata: {
              name: A,
              namespace: "team-a",
              uid: "u-a",
              labels: { "app.kubernetes.io/managed-by": "eatr" },
              annotations: { "eatr/token-expires-at": "2026-12-02T20:00:00Z" },
            },
          },
        ],
        ...EVENT_LISTS,
      },
    );
    const snapshot = await readCluster({
      client,
      hostNamespace: "ci-cd",
      credentialsSecretPrefix: "eatr-aws-credentials",
      registries: [],
      lease: { namespace: "ci-cd", name: "eatr" },
    });
    const metadataOnly = (call: Call | undefined) =>
      call?.accept?.includes("as=PartialObjectMetadata") === true;
    assert.ok(
      metadataOnly(client.calls.find((c) => c.path === "/api/v1/namespaces")),
      "namespaces: metadata only",
    );
    assert.ok(
      metadataOnly(client.calls.find((c) => c.path === "/api/v1/secrets")),
      "pull secrets: metadata only",
    );
    assert.ok(
      metadataOnly(client.calls.find((c) => c.path.endsWith(`team-b/secrets/${A}`))),
      "same-named: metadata only",
    );
    assert.equal(
      client.calls.filter((c) => c.path.includes("/secrets/") && !c.path.includes("eatr-aws-credentials"))
        .length,
      2,
      "a GET for each wanted pull secret not in the list, none for the one that is, none in a terminating namespace",
    );
    assert.deepEqual(
      snapshot.namespaces.map((n) => [n.name, n.terminating]),
      [
        ["team-a", false],
        ["team-b", false],
        ["team-c", false],
        ["gone", true],
      ],
    );
    assert.deepEqual(
      snapshot.pullSecrets.map((s) => [s.namespace, s.managed]),
      [
        ["team-a", true],
        ["team-b", false],
      ],
    );
    assert.deepEqual(snapshot.credentialSecrets.get(A), {
      namespace: "ci-cd",
      name: `eatr-aws-credentials-${A}`,
      keys: ["aws_access_key_id", "aws_secret_access_key", "aws_web_identity"],
      webIdentity: true,
      changedAtMs: Date.parse("2026-12-02T09:00:00Z"),
    });
    assert.equal(snapshot.credentialSecrets.has(B), false);
    assert.deepEqual(
      snapshot.events.map((e) => [e.reason, e.name, e.count, e.lastSeenMs]),
      [["TokenRequestFailed", `eatr-aws-credentials-${A}`, 3, Date.parse("2026-12-02T11:00:00Z")]],
    );
    assert.deepEqual(snapshot.lease, {
      namespace: "ci-cd",
      name: "eatr",
      holder: "pod-1",
      renewTimeMs: Date.parse("2026-12-02T11:59:59.123Z"),
      leaseDurationSeconds: 15,
    });
    const text = JSON.stringify({ ...snapshot, credentialSecrets: [...snapshot.credentialSecrets] });
    assert.ok(
      !text.includes(SECRET_VALUE) && !text.includes(b64(SECRET_VALUE)) && !text.includes("AKIAEXAMPLE"),
    );
  });

  void it("with leader election off, reads no Lease; a declared registry's credential secret is read", async () => {
    const client = fakeClient(
      { [`/api/v1/namespaces/ci-cd/secrets/eatr-aws-credentials-${B}`]: 404 },
      { "/api/v1/namespaces?": [], "/api/v1/secrets?app.kubernetes.io/managed-by=eatr": [], ...EVENT_LISTS },
    );
    const snapshot = await readCluster({
      client,
      hostNamespace: "ci-cd",
      credentialsSecretPrefix: "eatr-aws-credentials",
      registries: [{ host: B, source: "default" }],
      lease: null,
    });
    assert.equal(snapshot.lease, null);
    assert.ok(!client.calls.some((c) => c.path.includes("leases")));
  });

  void it("Events the user may not list are left out with a note; other Event errors fail the read", async () => {
    const forbidden = (status: number): ReadClient => {
      const inner = fakeClient(
        {},
        {
          "/api/v1/namespaces?": [],
          "/api/v1/secrets?app.kubernetes.io/managed-by=eatr": [],
          ...EVENT_LISTS,
        },
      );
      return {
        get: inner.get,
        listPages: (path: string, options?: RequestOptions) => {
          if (path !== "/api/v1/events") return inner.listPages(path, options);
          // eslint-disable-next-line require-yield
          return (async function* () {
            await Promise.resolve();
            throw new KubeApiError(
              "GET",
              path,
              status,
              JSON.stringify({ reason: "Forbidden", message: "no" }),
            );
          })();
        },
      };
    };
    const read = (client: ReadClient) =>
      readCluster({
        client,
        hostNamespace: "ci-cd",
        credentialsSecretPrefix: "p",
        registries: [],
        lease: null,
      });
    const snapshot = await read(forbidden(403));
    assert.deepEqual(snapshot.notes, [
      "cannot list SecretImmutable Events (HTTP 403 Forbidden): the problems they report are not shown",
      "cannot list SecretContested Events (HTTP 403 Forbidden): the problems they report are not shown",
    ]);
    assert.equal(snapshot.events.length, 1, "the Events it could list are kept");
    await assert.rejects(read(forbidden(500)), /^StatusReadError: listing SecretImmutable Events: HTTP 500/);
  });

  void it("a failed read is one line naming the read and the server's answer", async () => {
    const client: ReadClient = {
      get: () => Promise.reject(new Error("unused")),
      // eslint-disable-next-line require-yield
      listPages: async function* (path: string) {
        await Promise.resolve();
        throw new KubeApiError(
          "GET",
          path,
          403,
          JSON.stringify({
            reason: "Forbidden",
            message: 'namespaces is forbidden: User "bob" cannot list resource "namespaces"',
          }),
        );
      },
    };
    await assert.rejects(
      readCluster({
        client,
        hostNamespace: "ci-cd",
        credentialsSecretPrefix: "p",
        registries: [],
        lease: null,
      }),
      (err: unknown) =>
        err instanceof StatusReadError &&
        /^listing (namespaces|eatr's pull secrets|\w+ Events( in namespace ci-cd)?): HTTP 403 Forbidden: /.test(
          err.message,
        ) &&
        !err.message.includes("\n"),
    );
  });
});
