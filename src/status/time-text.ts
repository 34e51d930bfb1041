/** How status writes times: whole-second UTC timestamps and short relative durations. Pure. */

/** `2026-12-02T13:50:00Z`: ISO 8601 in UTC, to the second. */
export function isoSeconds(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace(".000Z", "Z");
}

/** A duration to the second, largest units first: `11h59m`, `59m30s`, `45s`, `0s` (seconds dropped above 1h). */
export function shortDuration(ms: number): string {
  const total = Math.floor(Math.abs(ms) / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return m > 0 ? `${h}h${m}m` : `${h}h`;
  if (m > 0) return s > 0 ? `${m}m${s}s` : `${m}m`;
  return `${s}s`;
}

/** `in 11h59m` or `3m ago`, relative to now. */
export function relative(ms: number, nowMs: number): string {
  return ms >= nowMs ? `in ${shortDuration(ms - nowMs)}` : `${shortDuration(nowMs - ms)} ago`;
}

/** `2026-12-02T13:50:00Z (in 11h59m)`. */
export function timeText(ms: number, nowMs: number): string {
  return `${isoSeconds(ms)} (${relative(ms, nowMs)})`;
}
