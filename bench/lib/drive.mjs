// The closed-loop load generator shared by the client benches: `concurrency` workers, each issuing
// its next operation as soon as the previous one completes.
import { percentile } from './results.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Keeps `concurrency` calls of `op(i)` in flight (i counts up across workers) for `warmupMs`, then
 * measures for `measureMs`. `aroundMeasure()` (optional) is awaited just before the window opens
 * and just after it closes, while the workers are still running; its two results come back as
 * `marks` (e.g. another process's CPU time). Returns ops/s, p50/p99 in ms, the ops counted, and
 * this process's CPU usage over the window.
 */
export async function drive(op, concurrency, { warmupMs, measureMs, aroundMeasure }) {
  const latencies = [];
  let measuring = false;
  let stop = false;
  let done = 0;
  let seq = 0;
  const worker = async () => {
    while (!stop) {
      const i = seq++;
      const t0 = performance.now();
      await op(i);
      if (measuring && !stop) {
        latencies.push(performance.now() - t0);
        done++;
      }
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  await sleep(warmupMs);
  const markBefore = await aroundMeasure?.();
  measuring = true;
  const cpuBefore = process.cpuUsage();
  const start = performance.now();
  await sleep(measureMs);
  const elapsed = performance.now() - start;
  const cpu = process.cpuUsage(cpuBefore);
  const measured = done;
  stop = true;
  const markAfter = await aroundMeasure?.();
  await Promise.all(workers);
  latencies.sort((a, b) => a - b);
  return {
    opsPerSec: Math.round((done / elapsed) * 1000),
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    measured,
    cpu,
    marks: [markBefore, markAfter],
  };
}
