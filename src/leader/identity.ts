import { randomBytes } from "node:crypto";
import { hostname } from "node:os";

/** hostname + "_" + a random hex suffix, so a restarted pod of the same name is a new candidate. */
export function defaultIdentity(): string {
  return `${hostname()}_${randomBytes(4).toString("hex")}`;
}
