import { packageVitestConfig } from '../../vitest.shared.js';

// Shared settings (the 'source' condition, test/**/*.test.ts, 30 s timeouts) live in the root file.
export default packageVitestConfig();
