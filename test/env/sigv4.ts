/** Pieces the local AWS endpoints (and their tests) share for SigV4. */
import { createHash, createHmac, type Hash } from "node:crypto";

/** "20260101T000000Z" -> epoch ms, or undefined. */
export function parseAmzDate(s: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, se] = m.map(Number);
  if (y === undefined || mo === undefined || d === undefined) return undefined;
  return Date.UTC(y, mo - 1, d, h ?? 0, mi ?? 0, se ?? 0);
}

/** node:crypto as the Checksum constructor @smithy/signature-v4 wants. */
export class Sha256 {
  private readonly h: Hash | ReturnType<typeof createHmac>;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.h = secret === undefined ? createHash("sha256") : createHmac("sha256", bytes(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.h.update(bytes(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.h.digest()));
  }
  reset(): void {
    throw new Error("not needed");
  }
}

function bytes(data: string | ArrayBuffer | ArrayBufferView): string | Uint8Array {
  if (typeof data === "string") return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
