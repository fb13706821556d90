import { DEFAULT_CONFIG, type DemoConfig } from '../shared/view-model.js';

/** Clamp a number field; anything that is not a finite number keeps the default. */
function clamp(value: unknown, min: number, max: number, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? Math.min(max, Math.max(min, value)) : fallback;
}

/**
 * The config as a worker obeys it. Anyone can write any JSON into the config znode (the dashboard,
 * `conclave cli`), so a worker takes the fields it understands, bounded, and keeps defaults for
 * the rest rather than spin at 0 ms or stall for a day.
 */
export function sanitizeConfig(raw: unknown): DemoConfig {
  const v = (raw !== null && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  return {
    lockHoldMs: clamp(v.lockHoldMs, 0, 10_000, DEFAULT_CONFIG.lockHoldMs),
    produceEveryMs: clamp(v.produceEveryMs, 20, 10_000, DEFAULT_CONFIG.produceEveryMs),
    consumeWorkMs: clamp(v.consumeWorkMs, 0, 10_000, DEFAULT_CONFIG.consumeWorkMs),
    leaderTermMs: clamp(v.leaderTermMs, 0, 3_600_000, DEFAULT_CONFIG.leaderTermMs),
    message: typeof v.message === 'string' ? v.message.slice(0, 200) : DEFAULT_CONFIG.message,
  };
}
