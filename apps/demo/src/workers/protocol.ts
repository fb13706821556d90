/**
 * The line protocol between the demo and its worker processes: one JSON object per line, reports
 * on the worker's stdout, commands on its stdin. A worker exits when its stdin closes, so a demo
 * that dies (even by SIGKILL) leaves no worker behind.
 */

/** Worker → demo. */
export type WorkerReport =
  | { type: 'hello'; id: string; pid: number; sessionId: string; roles: ('producer' | 'consumer')[] }
  | {
      type: 'status';
      connection: string;
      lock: 'idle' | 'waiting' | 'holding';
      lockSinceMs: number | null;
      lockAcquisitions: number;
      isLeader: boolean;
      produced: number;
      consumed: number;
    }
  | { type: 'state'; connection: string }
  | { type: 'config'; value: unknown; version: number }
  | { type: 'leader'; isLeader: boolean }
  | { type: 'event'; text: string; error?: boolean };

/** Demo → worker. */
export type WorkerCommand = { type: 'resign' };

/** Splits a stream of chunks into complete lines (a JSON line may arrive in pieces). */
export function lineSplitter(onLine: (line: string) => void): (chunk: Buffer | string) => void {
  let buffered = '';
  return (chunk) => {
    buffered += chunk.toString();
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const line = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (line !== '') onLine(line);
    }
    // A worker never writes lines this long; cap the buffer so garbage cannot grow it forever.
    if (buffered.length > 1_000_000) buffered = '';
  };
}
