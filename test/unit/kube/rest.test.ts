import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import { KubeConfig } from "@kubernetes/client-node";
import { describeApiError, statusOf } from "../../../src/kube/api.ts";
import { KubeApiError, METADATA_ONLY, METADATA_ONLY_LIST, RestClient } from "../../../src/kube/rest.ts";
import { shareConnections } from "../../../src/kube/shared-connections.ts";

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

/** A fake API server on loopback: handler answers each request; every request is recorded. */
async function fakeServer(handler: (req: Seen, res: ServerResponse) => void) {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      const s = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body };
      seen.push(s);
      handler(s, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "c", server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: "u", token: "the-token" }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
  return {
    seen,
    kc,
    client: (timeoutMs?: number, watchIdleMs?: number) =>
      new RestClient(shareConnections(kc), {
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
        ...(watchIdleMs === undefined ? {} : { watchIdleMs }),
      }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { "Content-Type": "application/json" });
  res.end(JSON.stringify(body));
};

describe("RestClient", () => {
  it("sends JSON with the kubeconfig's credentials and returns the parsed answer", async () => {
    const s = await fakeServer((req, res) => {
      json(res, 201, { kind: "Secret", echo: JSON.parse(req.body) as unknown });
    });
    try {
      const out = await s
        .client()
        .post<{ echo: unknown }>(
          "/api/v1/namespaces/a/secrets",
          { metadata: { name: "x" } },
          { query: { fieldManager: "eatr/one", dryRun: undefined } },
        );
      assert.deepEqual(out.echo, { metadata: { name: "x" } });
      const req = s.seen[0];
      assert.equal(req?.method, "POST");
      assert.equal(req.url, "/api/v1/namespaces/a/secrets?fieldManager=eatr%2Fone");
      assert.equal(req.headers.authorization, "Bearer the-token");
      assert.equal(req.headers["content-type"], "application/json");
    } finally {
      await s.close();
    }
  });

  it("turns an error answer into KubeApiError with the status and the server's Status", async () => {
    const s = await fakeServer((_req, res) => {
      json(res, 409, { kind: "Status", reason: "AlreadyExists", message: 'secrets "x" already exists' });
    });
    try {
      const err = await s
        .client()
        .post("/api/v1/namespaces/a/secrets", { data: { k: "c2VjcmV0" } })
        .then(
          () => assert.fail("no error"),
          (e: unknown) => e,
        );
      assert.ok(err instanceof KubeApiError);
      assert.equal(statusOf(err), 409);
      assert.equal(err.message, "POST /api/v1/namespaces/a/secrets: HTTP 409");
      assert.equal(describeApiError(err), 'HTTP 409 AlreadyExists: secrets "x" already exists');
    } finally {
      await s.close();
    }
  });

  it("follows continue tokens page by page with a limit", async () => {
    const s = await fakeServer((req, res) => {
      const u = new URL(req.url, "http://x");
      const page = u.searchParams.get("continue") ?? "";
      const next = page === "" ? "p2" : page === "p2" ? "p3" : undefined;
      json(res, 200, {
        metadata: { resourceVersion: "7", ...(next ? { continue: next } : {}) },
        items: [{ metadata: { name: page || "p1" } }],
      });
    });
    try {
      const names: string[] = [];
      for await (const p of s.client().listPages<{ metadata: { name: string } }>("/api/v1/secrets", {
        pageSize: 1,
        query: { labelSelector: "a=b" },
      }))
        names.push(...p.items.map((i) => `${i.metadata.name}@${p.resourceVersion}`));
      assert.deepEqual(names, ["p1@7", "p2@7", "p3@7"]);
      assert.deepEqual(
        s.seen.map((r) => r.url),
        [
          "/api/v1/secrets?labelSelector=a%3Db&limit=1",
          "/api/v1/secrets?labelSelector=a%3Db&limit=1&continue=p2",
          "/api/v1/secrets?labelSelector=a%3Db&limit=1&continue=p3",
        ],
      );
    } finally {
      await s.close();
    }
  });

  it("bounds a call by its timeout and stops at once when the caller's signal aborts", async () => {
    const s = await fakeServer(() => {
      // never answers
    });
    try {
      await assert.rejects(s.client(200).get("/api/v1/namespaces/a"), { name: "TimeoutError" });
      const halt = new AbortController();
      const call = s.client(60_000).get("/api/v1/namespaces/a", { signal: halt.signal });
      halt.abort(new Error("leadership lost"));
      await assert.rejects(call, { message: "leadership lost" });
    } finally {
      await s.close();
    }
  });

  it("applies the kubeconfig's authentication once for many calls, and again after a 401", async () => {
    let status = 200;
    const s = await fakeServer((_req, res) => {
      json(res, status, {});
    });
    try {
      let applied = 0;
      const original = s.kc.applySecurityAuthentication.bind(s.kc);
      s.kc.applySecurityAuthentication = (ctx) => {
        applied++;
        return original(ctx);
      };
      const client = s.client();
      await Promise.all([client.get("/a"), client.get("/b")]);
      await client.get("/c");
      assert.equal(applied, 1);
      status = 401;
      await assert.rejects(client.get("/d"), { statusCode: 401 });
      status = 200;
      await client.get("/e");
      assert.equal(applied, 2, "a 401 makes the next call read the credentials again");
      assert.ok(s.seen.every((r) => r.headers.authorization === "Bearer the-token"));
    } finally {
      await s.close();
    }
  });

  /** Runs one watch to its end; returns the events seen and what done() was called with. */
  function watchOnce(client: RestClient, query: Record<string, string | boolean> = {}) {
    const events: string[] = [];
    const ended = new Promise<unknown>((resolve) => {
      void client.watch(
        "/api/v1/secrets",
        query,
        (type, object) => events.push(`${type} ${(object as { metadata: { name: string } }).metadata.name}`),
        resolve,
      );
    });
    return { events, ended };
  }

  it("watches: splits events across chunks, passes the query, ends cleanly with the stream", async () => {
    const s = await fakeServer((_req, res) => {
      res.writeHead(200, { "Content-Type": "application/json" });
      const lines = ["ADDED", "MODIFIED", "DELETED"]
        .map((t, i) => JSON.stringify({ type: t, object: { metadata: { name: `s${String(i)}-ü` } } }))
        .join("\n");
      // Cut mid-event, inside the two bytes of "ü", with garbage and an empty line the client must skip.
      const bytes = Buffer.from(`${lines}\nnot json\n\n`);
      const cut = bytes.indexOf(Buffer.from("ü")) + 1;
      res.write(bytes.subarray(0, cut));
      setTimeout(() => {
        res.end(bytes.subarray(cut));
      }, 20);
    });
    try {
      const w = watchOnce(s.client(), { labelSelector: "a=b", allowWatchBookmarks: true });
      assert.equal(await w.ended, null);
      assert.deepEqual(w.events, ["ADDED s0-ü", "MODIFIED s1-ü", "DELETED s2-ü"]);
      assert.equal(s.seen[0]?.url, "/api/v1/secrets?labelSelector=a%3Db&allowWatchBookmarks=true&watch=true");
    } finally {
      await s.close();
    }
  });

  it("watches and lists metadata only when asked (the Accept header of each request)", async () => {
    const s = await fakeServer((req, res) => {
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end((req.url ?? "").includes("watch=true") ? "" : JSON.stringify({ metadata: {}, items: [] }));
    });
    try {
      const client = s.client();
      await new Promise<unknown>((resolve) => {
        void client.watch("/api/v1/secrets", {}, () => undefined, resolve, { accept: METADATA_ONLY });
      });
      await new Promise<unknown>((resolve) => {
        void client.watch("/api/v1/secrets", {}, () => undefined, resolve);
      });
      const pages = client.listPages("/api/v1/secrets", { accept: METADATA_ONLY_LIST });
      assert.equal((await pages.next()).done, false);
      assert.deepEqual(
        s.seen.map((r) => r.headers.accept),
        [METADATA_ONLY, "application/json", METADATA_ONLY_LIST],
      );
      assert.match(METADATA_ONLY, /^application\/json;as=PartialObjectMetadata;g=meta\.k8s\.io;v=v1,/);
      assert.match(
        METADATA_ONLY_LIST,
        /^application\/json;as=PartialObjectMetadataList;g=meta\.k8s\.io;v=v1,/,
      );
    } finally {
      await s.close();
    }
  });

  it("watches: an HTTP error ends the watch with its status; silence ends it with a TimeoutError", async () => {
    let mode: "gone" | "silent" = "gone";
    const s = await fakeServer((_req, res) => {
      if (mode === "gone") {
        json(res, 410, { kind: "Status", reason: "Expired" });
        return;
      }
      res.writeHead(200, { "Content-Type": "application/json" });
      res.write(`${JSON.stringify({ type: "BOOKMARK", object: { metadata: { name: "b" } } })}\n`);
    });
    try {
      const gone = watchOnce(s.client());
      assert.equal(statusOf(await gone.ended), 410);
      mode = "silent";
      const silent = watchOnce(s.client(undefined, 200));
      const err = await silent.ended;
      assert.equal((err as Error).name, "TimeoutError");
      assert.deepEqual(silent.events, ["BOOKMARK b"], "data before the silence was delivered");
    } finally {
      await s.close();
    }
  });
});
