import { KubeApiError, type RestClient } from "../../src/kube/rest.ts";
import type { FakeClock } from "./fake-clock.ts";

/** Lets pending promise callbacks and immediates run (a few rounds). */
export const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

/** A RestClient whose writes answer 429 (Retry-After: 1) `refusals` times, then succeed. */
export function refusingRest(clock: FakeClock, refusals: number) {
  const sent: { method: string; path: string; at: number }[] = [];
  const write = (method: string) => (path: string) => {
    sent.push({ method, path, at: clock.monotonic() });
    return sent.length <= refusals
      ? Promise.reject(new KubeApiError(method, path, 429, "{}", "1"))
      : Promise.resolve({ metadata: { resourceVersion: "2" } });
  };
  const rest = { put: write("PUT"), post: write("POST"), delete: write("DELETE") };
  return { rest: rest as unknown as RestClient, sent };
}
