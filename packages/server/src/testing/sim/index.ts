export {
  SIM_SESSION_TIMEOUT_TICKS,
  type SimEntry,
  type SimStateMachine,
  type SimStateMachineFactory,
} from './entry.js';
export { DbStateMachine, dbStateMachineFactory } from './db-machine.js';
export { KvStateMachine, kvStateMachineFactory } from './kv-machine.js';
export { SimMember } from './member.js';
export { SimNetwork } from './network.js';
export {
  runSimulation,
  SIM_TIMING,
  type SimConfig,
  type SimResult,
  Simulation,
  shapeForSeed,
} from './simulation.js';
