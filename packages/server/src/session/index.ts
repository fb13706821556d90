export * from './expiry-queue.js';
export * from './session-tracker.js';
export * from './session-id.js';
