export {
  type EnsembleProcess,
  type LocalEnsemble,
  type StartEnsembleOptions,
  startEnsemble,
} from './start-ensemble.js';
export { LinkProxy } from './link-proxy.js';
