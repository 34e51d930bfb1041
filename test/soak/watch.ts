/**
 * The soak's admin watches: list, then watch from the list's resourceVersion, resume from the last one seen
 * (bookmarks count) whenever the stream ends or the connection fails (the API server restarts under it),
 * and relist on 410 Gone (after an etcd compaction). A relist is reported as a gap: what changed in between
 * is known only by its latest version.
 */
import { readFileSync } from "node:fs";
import type { ClientRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { ControlPlane } from "../env/control-plane.ts";
import { readControlPlaneState } from "../env/control-plane.ts";

export interface KubeItem {
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
    managedFields?: { manager?: string; operation?: string; subresource?: string; time?: string }[];
  };
  [key: string]: unknown;
}

export interface ReflectorHandler {
  /** A full list: the first one, or a relist after a gap (`gap` then says from which resourceVersion). */
  onList(items: KubeItem[], listRv: string, gap: { fromRv: string; reason: string } | undefined): void;
  onEvent(type: "ADDED" | "MODIFIED" | "DELETED", item: KubeItem): void;
}

interface Credentials {
  server: string;
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

function credentialsOf(cp: ControlPlane): Credentials {
  const state = readControlPlaneState(cp.stateFile);
  return {
    server: state.server,
    ca: readFileSync(state.caFile),
    cert: readFileSync(state.clientCertFile),
    key: readFileSync(state.clientKeyFile),
  };
}

class GoneError extends Error {}

/** Lists and watches one collection path until stop(). */
export class Reflector {
  private readonly creds: Credentials;
  private readonly path: string;
  private readonly handler: ReflectorHandler;
  private rv = "";
  private stopped = false;
  private current: ClientRequest | undefined;
  private loop: Promise<void> | undefined;

  constructor(cp: ControlPlane, path: string, handler: ReflectorHandler) {
    this.creds = credentialsOf(cp);
    this.path = path;
    this.handler = handler;
  }

  /** Resolves after the first list. */
  async start(): Promise<void> {
    await this.list(undefined);
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.current?.destroy();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.watchOnce();
      } catch (err) {
        if (this.stopped) return;
        if (err instanceof GoneError) {
          await this.relist(`410 Gone at ${this.rv}`);
          continue;
        }
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
    }
  }

  private async relist(reason: string): Promise<void> {
    const from = this.rv;
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        await this.list({ fromRv: from, reason });
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, Math.min(2_000, 200 * (attempt + 1))));
      }
    }
  }

  private async list(gap: { fromRv: string; reason: string } | undefined): Promise<void> {
    const body = await this.get(this.path);
    const list = JSON.parse(body) as { metadata?: { resourceVersion?: string }; items?: KubeItem[] };
    this.rv = list.metadata?.resourceVersion ?? "";
    this.handler.onList(list.items ?? [], this.rv, gap);
  }

  /** One GET of `path` (an object or a list) with the admin credentials; rejects on any status but 200. */
  get(path: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = httpsRequest(
        new URL(path, this.creds.server),
        { method: "GET", ca: this.creds.ca, cert: this.creds.cert, key: this.creds.key, timeout: 30_000 },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            if (res.statusCode === 200) resolve(text);
            else reject(new Error(`GET ${path}: HTTP ${String(res.statusCode)}: ${text.slice(0, 200)}`));
          });
          res.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new Error(`GET ${path} timed out`)));
      req.on("error", reject);
      req.end();
    });
  }

  private watchOnce(): Promise<void> {
    return new Promise((resolve, reject) => {
      const params = new URLSearchParams({
        watch: "true",
        allowWatchBookmarks: "true",
        timeoutSeconds: "300",
        resourceVersion: this.rv,
      });
      const req = httpsRequest(
        new URL(`${this.path}${this.path.includes("?") ? "&" : "?"}${params.toString()}`, this.creds.server),
        { method: "GET", ca: this.creds.ca, cert: this.creds.cert, key: this.creds.key },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            reject(
              res.statusCode === 410
                ? new GoneError("410")
                : new Error(`watch: HTTP ${String(res.statusCode)}`),
            );
            return;
          }
          // No byte for 30 s (bookmarks come about every minute, but the server is alive then): reconnect.
          res.setTimeout(90_000, () => req.destroy(new Error("watch idle")));
          let buffered = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => {
            buffered += chunk;
            for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
              const line = buffered.slice(0, nl);
              buffered = buffered.slice(nl + 1);
              if (line.trim() === "") continue;
              const event = JSON.parse(line) as { type: string; object: KubeItem & { code?: number } };
              if (event.type === "ERROR") {
                req.destroy();
                reject(event.object.code === 410 ? new GoneError("410") : new Error("watch ERROR event"));
                return;
              }
              const eventRv = event.object.metadata?.resourceVersion;
              if (eventRv !== undefined && eventRv !== "") this.rv = eventRv;
              if (event.type === "ADDED" || event.type === "MODIFIED" || event.type === "DELETED")
                this.handler.onEvent(event.type, event.object);
            }
          });
          res.on("end", resolve);
          res.on("error", reject);
          res.on("close", resolve);
        },
      );
      req.on("error", reject);
      req.end();
      this.current = req;
    });
  }
}
