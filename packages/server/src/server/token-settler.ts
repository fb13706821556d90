/**
 * Preparer.settle(token) is cumulative ("every txn prepped with a token ≤ token is done"), but
 * txns finish out of token order here: an error txn is answered at once while earlier ones are
 * still in the log's fsync. This keeps the set of finished tokens and settles only the longest
 * finished prefix, so outstanding changes are never dropped before their txn is applied.
 */
export class TokenSettler {
  private readonly done = new Set<number>();
  private settledUpTo = 0;

  constructor(private readonly settle: (token: number) => void) {}

  finished(token: number): void {
    if (token <= this.settledUpTo) throw new Error(`invariant: token ${token} finished twice`);
    this.done.add(token);
    let next = this.settledUpTo + 1;
    if (!this.done.has(next)) return;
    while (this.done.has(next)) {
      this.done.delete(next);
      next++;
    }
    this.settledUpTo = next - 1;
    this.settle(this.settledUpTo);
  }

  /** Tokens finished but waiting for an earlier one. */
  get waiting(): number {
    return this.done.size;
  }
}
