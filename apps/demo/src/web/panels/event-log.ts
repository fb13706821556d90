import type { LogEntry, LogKind } from '../../shared/view-model.js';
import { byId, el } from '../dom.js';
import { clock } from '../format.js';

const KINDS: (LogKind | 'all')[] = [
  'all',
  'failover',
  'member',
  'election',
  'config',
  'watch',
  'state',
  'worker',
  'error',
];
const MAX_SHOWN = 400;
const seen = new Set<number>();
let filter: LogKind | 'all' = 'all';

function apply(li: HTMLElement): void {
  li.hidden = filter !== 'all' && li.dataset.kind !== filter;
}

export function initEventLog(): void {
  const bar = byId('log-filters');
  for (const k of KINDS) {
    const b = el('button', k === filter ? 'btn on' : 'btn', k);
    b.type = 'button';
    b.addEventListener('click', () => {
      filter = k;
      for (const x of Array.from(bar.children)) x.classList.toggle('on', x === b);
      for (const li of Array.from(byId('log').children)) apply(li as HTMLElement);
    });
    bar.append(b);
  }
}

/** Newest on top; the list keeps its scroll position when the user scrolled down to read. */
export function addLogEntries(entries: LogEntry[]): void {
  const list = byId('log');
  const fresh = entries.filter((e) => !seen.has(e.seq));
  if (fresh.length === 0) return;
  const before = list.scrollHeight;
  const top = list.scrollTop;
  for (const e of fresh) {
    seen.add(e.seq);
    const li = el('li');
    li.dataset.kind = e.kind;
    li.dataset.seq = String(e.seq);
    li.append(el('span', 't', clock(e.atMs)), el('span', 'k', e.kind), el('span', 'x', e.text));
    apply(li);
    list.prepend(li);
  }
  while (list.children.length > MAX_SHOWN) list.lastElementChild?.remove();
  if (top > 0) list.scrollTop = top + (list.scrollHeight - before);
}
