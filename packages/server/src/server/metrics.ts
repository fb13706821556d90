/**
 * Counters behind the admin commands (stat, srvr, mntr). Plain numbers on the hot path; the
 * Prometheus text is rendered only when asked for.
 */
export class ServerMetrics {
  packetsReceived = 0;
  packetsSent = 0;
  txnsApplied = 0;
  snapshotsTaken = 0;
  malformedFrames = 0;
  connectionsRefused = 0;
  sessionsExpired = 0;
  backpressurePauses = 0;
  /** Connections closed because their unsent output passed the hard cap (CloseCode.SLOW_CONSUMER). */
  slowConsumerCloses = 0;
  latencyCount = 0;
  latencySumMs = 0;
  latencyMinMs = Number.POSITIVE_INFINITY;
  latencyMaxMs = 0;
  /** The last 4096 latencies, for percentiles. */
  private readonly recent = new Float64Array(4096);
  private recentCount = 0;

  recordLatency(ms: number): void {
    this.packetsSent++;
    this.latencyCount++;
    this.latencySumMs += ms;
    if (ms < this.latencyMinMs) this.latencyMinMs = ms;
    if (ms > this.latencyMaxMs) this.latencyMaxMs = ms;
    this.recent[this.recentCount++ % this.recent.length] = ms;
  }

  get latencyAvgMs(): number {
    return this.latencyCount === 0 ? 0 : this.latencySumMs / this.latencyCount;
  }

  /** Percentile (0–100) over the recent window. */
  latencyPercentileMs(p: number): number {
    const n = Math.min(this.recentCount, this.recent.length);
    if (n === 0) return 0;
    const sorted = Array.from(this.recent.subarray(0, n)).sort((a, b) => a - b);
    return sorted[Math.min(n - 1, Math.floor((p / 100) * n))]!;
  }

  reset(): void {
    this.latencyCount = 0;
    this.latencySumMs = 0;
    this.latencyMinMs = Number.POSITIVE_INFINITY;
    this.latencyMaxMs = 0;
    this.recentCount = 0;
  }
}
