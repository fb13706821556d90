export {
  isSessionOp,
  type SessionOp,
  SIM_SESSION_TIMEOUT_TICKS,
  SIM_SESSIONEXPIRED,
  type SimCreateMode,
  type SimEntry,
  type SimOp,
  type SimStateMachine,
  type SimStateMachineFactory,
} from './entry.js';
export { DbStateMachine, dbStateMachineFactory, dbStateMachineFactoryWith } from './db-machine.js';
export { KvStateMachine, kvStateMachineFactory } from './kv-machine.js';
export { PLAIN_LOG, type SimLogConfig, type SimLogStats, SimMember, type SimShellFault } from './member.js';
export { SimNetwork } from './network.js';
export {
  logConfigForSeed,
  runSimulation,
  SIM_TIMING,
  type SimConfig,
  type SimResult,
  Simulation,
  shapeForSeed,
} from './simulation.js';
