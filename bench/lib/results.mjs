// Helpers shared by the benches in bench/: latency percentiles, number formatting, the aligned
// results table, and the JSON files under bench/results/ that each run saves and the next compares with.
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** bench/results/, where every bench saves its runs. */
export const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'results');

/** The p-th percentile (0..100) of an ascending array; 0 when it is empty. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** The (lower) median of numbers in any order; undefined when there are none. */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? undefined : s[Math.floor((s.length - 1) / 2)];
}

/** `n` with `digits` decimals, or '-' when it is not a number (a cell that was not measured). */
export function fmt(n, digits = 2) {
  return typeof n === 'number' ? n.toFixed(digits) : '-';
}

/** Prints a table: the first column left-aligned, the others right-aligned, two spaces apart. */
export function printTable(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
}

/**
 * Earlier runs saved as `<prefix>-<timestamp>.json`, newest first, read lazily: `{ file, data }`.
 * Timestamps are ISO-like, so name order is time order.
 */
export async function* savedRuns(prefix) {
  const files = (await readdir(RESULTS_DIR).catch(() => []))
    .filter((f) => f.startsWith(`${prefix}-`) && f.endsWith('.json'))
    .sort()
    .reverse();
  for (const file of files) yield { file, data: JSON.parse(await readFile(join(RESULTS_DIR, file), 'utf8')) };
}

/** Every earlier run of `prefix`, newest first. */
export async function allSavedRuns(prefix) {
  const runs = [];
  for await (const run of savedRuns(prefix)) runs.push(run);
  return runs;
}

/** The newest earlier run of `prefix` that `accept` takes (any, by default), or undefined. */
export async function newestSavedRun(prefix, accept = () => true) {
  for await (const run of savedRuns(prefix)) if (accept(run.data)) return run;
  return undefined;
}

/** Saves `data` as bench/results/<prefix>-<timestamp>.json (creating the folder) and prints where. */
export async function saveRun(prefix, data) {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  await mkdir(RESULTS_DIR, { recursive: true });
  const out = join(RESULTS_DIR, `${prefix}-${stamp}.json`);
  await writeFile(out, `${JSON.stringify(data, null, 2)}\n`);
  console.log(`saved ${out}`);
  return out;
}
