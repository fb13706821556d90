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
  /** The op's position in its part: its bit in the linearized set and its Zobrist keys. */
  bit: number;
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

/**
 * Two time-ordered doubly linked lists: the calls and returns of completed ops, and the calls of
 * ops whose outcome is unknown (ret = Infinity), which have no return to wait for.
 */
function buildLists<I, O>(ops: Operation<I, O>[]): { head: Entry<I, O>; pending: Entry<I, O> } {
  const events: Entry<I, O>[] = [];
  const unknown: Entry<I, O>[] = [];
  const entry = (op: Operation<I, O>, bit: number, isCall: boolean, time: number): Entry<I, O> => ({
    op,
    bit,
    isCall,
    time,
    match: undefined,
    prev: undefined,
    next: undefined,
  });
  for (const [bit, op] of ops.entries()) {
    if (!(op.ret >= op.call)) throw new Error(`history: op ${op.id} returns before it is called`);
    const call = entry(op, bit, true, op.call);
    if (op.ret === Number.POSITIVE_INFINITY) {
      unknown.push(call);
      continue;
    }
    const ret = entry(op, bit, false, op.ret);
    call.match = ret;
    events.push(call, ret);
  }
  // Calls before returns at equal times: such ops count as concurrent (the permissive reading).
  events.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? 0 : a.isCall ? -1 : 1));
  unknown.sort((a, b) => a.time - b.time);
  const link = (list: Entry<I, O>[]): Entry<I, O> => {
    const head = entry(undefined as unknown as Operation<I, O>, -1, false, Number.NEGATIVE_INFINITY);
    let prev = head;
    for (const e of list) {
      prev.next = e;
      e.prev = prev;
      prev = e;
    }
    return head;
  };
  return { head: link(events), pending: link(unknown) };
}

function lift<I, O>(call: Entry<I, O>): void {
  call.prev!.next = call.next;
  if (call.next) call.next.prev = call.prev;
  const ret = call.match;
  if (ret === undefined) return;
  ret.prev!.next = ret.next;
  if (ret.next) ret.next.prev = ret.prev;
}

function unlift<I, O>(call: Entry<I, O>): void {
  const ret = call.match;
  if (ret !== undefined) {
    ret.prev!.next = ret;
    if (ret.next) ret.next.prev = ret;
  }
  call.prev!.next = call;
  if (call.next) call.next.prev = call;
}

/** The first return in the list: only calls made before it may be linearized next. */
function firstReturn<I, O>(head: Entry<I, O>): Entry<I, O> | undefined {
  let e = head.next;
  while (e?.isCall) e = e.next;
  return e;
}

/**
 * Wing & Gong's depth-first search for a linearization of one part. Completed ops that may go
 * next are tried before ops of unknown outcome: those usually did not take effect or were
 * overwritten unseen, and trying them first made the search exponential in how many were pending
 * at once. Any order of trying is complete; a part is done when every completed op is placed
 * (unknown ops left over are taken never to have happened, which linearizability allows).
 */
function checkPart<S, I, O>(
  model: Model<S, I, O>,
  ops: Operation<I, O>[],
  budget: { steps: number; maxSteps: number; deadline: number; now: () => number },
): Omit<CheckResult, 'parts' | 'steps'> {
  if (ops.length === 0) return { verdict: 'ok' };
  const { head, pending } = buildLists(ops);
  const linearized = new LinearizedSet(ops.length);
  const seen = new SeenConfigurations();
  const stack: Array<{ entry: Entry<I, O>; state: S }> = [];
  let state = model.init();
  // The candidate being considered: a completed op's call in the main list, or (once the main
  // list's candidates are used up, at `limit`, the first return) an unknown op's call.
  let entry = head.next;
  let inPending = false;
  let limit = Number.NEGATIVE_INFINITY;
  // The longest prefix found so far, for the explanation. Kept incrementally: `same` stack entries
  // still match it, so only entries pushed since are copied (copying the whole stack each time it
  // grew past the best was quadratic in the part size).
  const best: number[] = [];
  let same = 0;
  let bestBlocking: number | undefined;

  while (head.next !== undefined) {
    if (++budget.steps > budget.maxSteps || ((budget.steps & 1023) === 0 && budget.now() > budget.deadline)) {
      return { verdict: 'unknown' };
    }
    if (!inPending && entry !== undefined && !entry.isCall) {
      // A return reached before its op was linearized: no completed op can go next; try unknowns.
      if (stack.length === best.length) bestBlocking = entry.op.id;
      inPending = true;
      limit = entry.time;
      entry = pending.next;
      continue;
    }
    if (entry === undefined || (inPending && entry.time > limit)) {
      const top = stack.pop();
      if (top === undefined) return explain(model, ops, best, bestBlocking);
      if (same > stack.length) same = stack.length;
      state = top.state;
      linearized.toggle(top.entry.bit);
      unlift(top.entry);
      entry = top.entry.next;
      inPending = top.entry.match === undefined;
      if (inPending) limit = firstReturn(head)?.time ?? Number.POSITIVE_INFINITY;
      continue;
    }
    const { state: next, output } = model.apply(state, entry.op.input);
    const recorded = entry.op.output;
    if (recorded === undefined || model.equal(recorded, output)) {
      linearized.toggle(entry.bit);
      if (seen.add(linearized, model.hash(next))) {
        stack.push({ entry, state });
        state = next;
        lift(entry);
        if (stack.length > best.length) {
          best.length = same;
          for (let i = same; i < stack.length; i++) best.push(stack[i]!.entry.op.id);
          same = stack.length;
        }
        entry = head.next;
        inPending = false;
        continue;
      }
      linearized.toggle(entry.bit);
    }
    entry = entry.next;
  }
  return { verdict: 'ok' };
}

/**
 * The set of linearized ops as a bitset plus a 64-bit Zobrist hash kept up to date on every
 * toggle, so a search step costs O(1) rather than O(ops) (serializing the bitset per step made
 * histories of ~10k ops per part too slow to check).
 */
class LinearizedSet {
  readonly bits: Uint32Array;
  hi = 0;
  lo = 0;
  private readonly keys: Uint32Array;

  constructor(size: number) {
    this.bits = new Uint32Array(Math.ceil(size / 32));
    this.keys = new Uint32Array(size * 2);
    // A fixed-seed xorshift: the keys need only be well mixed, and a fixed seed keeps runs repeatable.
    let x = 0x9e3779b9;
    for (let i = 0; i < this.keys.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      this.keys[i] = x >>> 0;
    }
  }

  toggle(bit: number): void {
    this.bits[bit >>> 5]! ^= 1 << (bit & 31);
    this.hi ^= this.keys[2 * bit]!;
    this.lo ^= this.keys[2 * bit + 1]!;
  }
}

/**
 * The (linearized set, model state) configurations already explored. Keyed by the Zobrist hash and
 * the state's hash; bitsets are compared exactly on a key match, so a hash collision can never
 * prune a configuration that was not explored (which could turn into a false violation).
 */
class SeenConfigurations {
  private readonly byKey = new Map<string, Uint32Array[]>();

  /** Records the configuration; false if it was already there. */
  add(set: LinearizedSet, stateHash: string): boolean {
    const key = `${set.hi}:${set.lo}|${stateHash}`;
    const bucket = this.byKey.get(key);
    if (bucket === undefined) {
      this.byKey.set(key, [set.bits.slice()]);
      return true;
    }
    for (const b of bucket) if (sameBits(b, set.bits)) return false;
    bucket.push(set.bits.slice());
    return true;
  }
}

function sameBits(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
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
