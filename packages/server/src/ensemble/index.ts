export {
  connectStringOf,
  type EnsembleConfig,
  loadEnsembleConfig,
  type MemberConfig,
  parseEnsembleConfig,
  type QuorumLimits,
} from './config.js';
export { type EnsembleMember, type MemberOptions, startMember } from './member.js';
export type { MemberStatus } from './member-status.js';
