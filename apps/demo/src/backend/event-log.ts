import type { LogEntry, LogKind } from '../shared/view-model.js';

/** The dashboard's event log: a bounded ring of entries, pushed to every live listener. */
export class EventLog {
  readonly #entries: LogEntry[] = [];
  readonly #listeners = new Set<(e: LogEntry) => void>();
  #seq = 0;

  constructor(private readonly capacity = 400) {}

  add(kind: LogKind, text: string): void {
    const entry: LogEntry = { seq: ++this.#seq, atMs: Date.now(), kind, text };
    this.#entries.push(entry);
    if (this.#entries.length > this.capacity) this.#entries.shift();
    for (const l of this.#listeners) l(entry);
  }

  recent(): LogEntry[] {
    return [...this.#entries];
  }

  /** Returns the unsubscribe function. */
  subscribe(listener: (e: LogEntry) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
