import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ApiException } from "@kubernetes/client-node";
import { KubeApiError } from "../../../src/kube/rest.ts";
import { parseRetryAfter, throttleOf } from "../../../src/kube/throttle.ts";

describe("throttleOf", () => {
  const cases: { name: string; err: unknown; want: { retryAfterMs: number | undefined } | undefined }[] = [
    {
      name: "a 429 from rest.ts with Retry-After",
      err: new KubeApiError("POST", "/x", 429, "{}", "4"),
      want: { retryAfterMs: 4_000 },
    },
    {
      name: "a 429 from client-node (Events) with its headers",
      err: new ApiException(429, "too many", "{}", { "retry-after": "2" }),
      want: { retryAfterMs: 2_000 },
    },
    {
      name: "a 429 naming the wait only in its Status",
      err: new KubeApiError("PUT", "/x", 429, '{"kind":"Status","details":{"retryAfterSeconds":7}}'),
      want: { retryAfterMs: 7_000 },
    },
    {
      name: "a 429 naming no wait",
      err: new KubeApiError("PUT", "/x", 429, "not json"),
      want: { retryAfterMs: undefined },
    },
    {
      name: "a 429 with an HTTP date",
      err: new KubeApiError("PUT", "/x", 429, "{}", "Wed, 21 Oct 2026 07:28:00 GMT"),
      want: { retryAfterMs: undefined },
    },
    {
      name: "a 503 with Retry-After is no throttle",
      err: new KubeApiError("PUT", "/x", 503, "{}", "1"),
      want: undefined,
    },
    { name: "a 409", err: new KubeApiError("PUT", "/x", 409, "{}"), want: undefined },
    { name: "a timeout", err: new DOMException("no answer", "TimeoutError"), want: undefined },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(throttleOf(c.err), c.want);
    });
  }

  it("reads Retry-After as whole seconds only", () => {
    assert.equal(parseRetryAfter(" 3 "), 3);
    assert.equal(parseRetryAfter("0"), 0);
    for (const bad of ["-1", "1.5", "", "soon", "99999999999999999999"])
      assert.equal(parseRetryAfter(bad), undefined, bad);
  });
});
