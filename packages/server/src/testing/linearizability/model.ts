/**
 * One operation of a recorded history: what a client asked, what it got back, and when (logical or
 * wall time — any monotonic clock shared by all clients).
 */
export interface Operation<I, O> {
  /** Unique within the history. */
  id: number;
  clientId: number;
  input: I;
  /** undefined when the outcome is unknown (the client gave up, the member crashed). */
  output: O | undefined;
  /** Invocation time. */
  call: number;
  /** Response time; Infinity when the outcome is unknown (the op may take effect at any later point). */
  ret: number;
}

/**
 * A sequential specification. `apply` must be deterministic: the checker tries an operation at a
 * point of the order and compares the model's output with the recorded one.
 */
export interface Model<S, I, O> {
  init(): S;
  apply(state: S, input: I): { state: S; output: O };
  /** Recorded output matches the model's. */
  equal(recorded: O, expected: O): boolean;
  /** A string identifying the state, for memoization (equal states → equal strings). */
  hash(state: S): string;
  /**
   * Independent sub-histories (e.g. one per key): a history is linearizable iff each part is.
   * Default: the whole history is one part.
   */
  partition?(ops: Operation<I, O>[]): Operation<I, O>[][];
  describeInput?(input: I): string;
  describeOutput?(output: O): string;
}
