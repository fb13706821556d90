// Public API of @conclave/server: each module appends its export line below.
export * from './datatree/index.js';
export * from './server/index.js';
export * from './log/index.js';
export * from './zab/index.js';
export * from './testing/linearizability/index.js';
export * from './ensemble/index.js';
export * from './testing/ensemble/index.js';
