import type { Model, Operation } from './model.js';

export type CheckVerdict = 'ok' | 'violation' | 'unknown';

export interface CheckResult {
  verdict: CheckVerdict;
  /** For a violation: which part failed and why, in a few lines. */
  explanation?: string;
  /** For a violation: the longest linearizable prefix found in the failing part (op ids, in order). */
  partialOrder?: number[];
  /** For a violation: the op that could not be placed after that prefix. */
  blockingOp?: number;
  /** Parts checked, and how many search steps were taken overall. */
  parts: number;
  steps: number;
}

export interface CheckOptions {
  /** Wall-clock budget in ms; over it the verdict is 'unknown'. Default 10 000. */
  timeoutMs?: number;
  /** Step budget (bounds the work independent of the machine). Default 5 000 000. */
  maxSteps?: number;
  /** Clock for the budget. Default performance.now. */
  now?: () => number;
}

interface Entry<I, O> {
  op: Operation<I, O>;
  isCall: boolean;
  time: number;
  /** For a call: its return entry. */
  match: Entry<I, O> | undefined;
  prev: Entry<I, O> | undefined;
  next: Entry<I, O> | undefined;
}

/**
 * Checks a history for linearizability: Wing & Gong's search with Lowe's memoization of
 * (linearized-set, state) pairs, as Porcupine does, run separately on each independent part of
 * the history. Bounded: returns 'unknown' instead of running past its budget.
 */
export function checkLinearizable<S, I, O>(
  model: Model<S, I, O>,
  history: Operation<I, O>[],
  options: CheckOptions = {},
): CheckResult {
  const now = options.now ?? (() => performance.now());
  const deadline = now() + (options.timeoutMs ?? 10_000);
  const budget = { steps: 0, maxSteps: options.maxSteps ?? 5_000_000, deadline, now };
  const parts = model.partition ? model.partition(history) : [history];
  let unknown = false;
  for (const part of parts) {
    const r = checkPart(model, part, budget);
    if (r.verdict === 'violation') return { ...r, parts: parts.length, steps: budget.steps };
    if (r.verdict === 'unknown') unknown = true;
  }
  return { verdict: unknown ? 'unknown' : 'ok', parts: parts.length, steps: budget.steps };
}

function buildList<I, O>(ops: Operation<I, O>[]): Entry<I, O> {
  const events: Entry<I, O>[] = [];
  for (const op of ops) {
    if (!(op.ret >= op.call)) throw new Error(`history: op ${op.id} returns before it is called`);
    const ret: Entry<I, O> = {
      op,
      isCall: false,
      time: op.ret,
      match: undefined,
      prev: undefined,
      next: undefined,
    };
    const call: Entry<I, O> = {
      op,
      isCall: true,
      time: op.call,
      match: ret,
      prev: undefined,
      next: undefined,
    };
    events.push(call, ret);
  }
  // Calls before returns at equal times: such ops count as concurrent (the permissive reading).
  events.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? 0 : a.isCall ? -1 : 1));
  const head: Entry<I, O> = {
    op: undefined as unknown as Operation<I, O>,
    isCall: false,
    time: -Infinity,
    match: undefined,
    prev: undefined,
    next: undefined,
  };
  let prev = head;
  for (const e of events) {
    prev.next = e;
    e.prev = prev;
    prev = e;
  }
  return head;
}

function lift<I, O>(call: Entry<I, O>): void {
  call.prev!.next = call.next;
  if (call.next) call.next.prev = call.prev;
  const ret = call.match!;
  ret.prev!.next = ret.next;
  if (ret.next) ret.next.prev = ret.prev;
}

function unlift<I, O>(call: Entry<I, O>): void {
  const ret = call.match!;
  ret.prev!.next = ret;
  if (ret.next) ret.next.prev = ret;
  call.prev!.next = call;
  if (call.next) call.next.prev = call;
}

function checkPart<S, I, O>(
  model: Model<S, I, O>,
  ops: Operation<I, O>[],
  budget: { steps: number; maxSteps: number; deadline: number; now: () => number },
): Omit<CheckResult, 'parts' | 'steps'> {
  if (ops.length === 0) return { verdict: 'ok' };
  const index = new Map<number, number>();
  for (const [i, op] of ops.entries()) index.set(op.id, i);
  const head = buildList(ops);
  const words = Math.ceil(ops.length / 32);
  const linearized = new Uint32Array(words);
  const seen = new Set<string>();
  const stack: Array<{ entry: Entry<I, O>; state: S }> = [];
  let state = model.init();
  let entry = head.next;
  let best: number[] = [];
  let bestBlocking: number | undefined;

  while (head.next !== undefined) {
    if (++budget.steps > budget.maxSteps || ((budget.steps & 1023) === 0 && budget.now() > budget.deadline)) {
      return { verdict: 'unknown' };
    }
    if (entry === undefined) throw new Error('invariant: linearizability search ran off the list');
    if (entry.isCall) {
      const { state: next, output } = model.apply(state, entry.op.input);
      const recorded = entry.op.output;
      if (recorded === undefined || model.equal(recorded, output)) {
        const bit = index.get(entry.op.id)!;
        linearized[bit >>> 5]! |= 1 << (bit & 31);
        const key = `${linearized.join(',')}|${model.hash(next)}`;
        if (!seen.has(key)) {
          seen.add(key);
          stack.push({ entry, state });
          state = next;
          lift(entry);
          if (stack.length > best.length) best = stack.map((s) => s.entry.op.id);
          entry = head.next;
          continue;
        }
        linearized[bit >>> 5]! &= ~(1 << (bit & 31));
      }
      entry = entry.next;
    } else {
      // A return reached before its op was linearized: the current prefix cannot be extended.
      if (stack.length === best.length) bestBlocking = entry.op.id;
      const top = stack.pop();
      if (top === undefined) return explain(model, ops, best, bestBlocking);
      state = top.state;
      const bit = index.get(top.entry.op.id)!;
      linearized[bit >>> 5]! &= ~(1 << (bit & 31));
      unlift(top.entry);
      entry = top.entry.next;
    }
  }
  return { verdict: 'ok' };
}

function explain<S, I, O>(
  model: Model<S, I, O>,
  ops: Operation<I, O>[],
  best: number[],
  blocking: number | undefined,
): Omit<CheckResult, 'parts' | 'steps'> {
  const byId = new Map(ops.map((o) => [o.id, o]));
  const di = (i: I) => (model.describeInput ? model.describeInput(i) : JSON.stringify(i, bigintSafe));
  const dout = (o: O | undefined) =>
    o === undefined ? '?' : model.describeOutput ? model.describeOutput(o) : JSON.stringify(o, bigintSafe);
  let state = model.init();
  for (const id of best) state = model.apply(state, byId.get(id)!.input).state;
  const lines = [`no linearization: the longest valid prefix has ${best.length} of ${ops.length} ops`];
  if (best.length > 0) {
    const tail = best.slice(-5).map((id) => {
      const o = byId.get(id)!;
      return `#${id} c${o.clientId} ${di(o.input)} -> ${dout(o.output)} [${o.call}, ${o.ret}]`;
    });
    lines.push(`prefix ends with: ${tail.join('; ')}`);
  }
  if (blocking !== undefined) {
    const o = byId.get(blocking)!;
    const expected = model.apply(state, o.input).output;
    lines.push(
      `blocked by #${o.id} c${o.clientId} ${di(o.input)} returned ${dout(o.output)} [${o.call}, ${o.ret}], ` +
        `but after that prefix the model answers ${dout(expected)}`,
    );
  }
  const result: Omit<CheckResult, 'parts' | 'steps'> = {
    verdict: 'violation',
    explanation: lines.join('\n'),
    partialOrder: best,
  };
  if (blocking !== undefined) result.blockingOp = blocking;
  return result;
}

function bigintSafe(_k: string, v: unknown): unknown {
  return typeof v === 'bigint' ? `${v}n` : v;
}
