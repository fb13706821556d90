/** '1.4 s', '320 ms', '2 m 05 s', '1 h 02 m'. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} m ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} m`;
}

/** Local wall-clock time with milliseconds: '21:04:09.123'. */
export function clock(atMs: number): string {
  const d = new Date(atMs);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

export function rate(perSec: number): string {
  return perSec >= 100 ? perSec.toFixed(0) : perSec.toFixed(1);
}

export function dash(v: number | string | null | undefined): string {
  return v === null || v === undefined ? '—' : String(v);
}
