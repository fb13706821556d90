import type { DashboardSnapshot } from '../../shared/view-model.js';
import { byId, el, replaceIfChanged, setText } from '../dom.js';
import { dash, rate } from '../format.js';
import { drawSparkline } from '../sparkline.js';

export function renderQueue(s: DashboardSnapshot): void {
  const q = s.queue;
  setText(byId('queue-path'), q.path);
  setText(byId('queue-depth'), dash(q.depth));
  setText(byId('queue-in'), rate(q.producedPerSec));
  setText(byId('queue-out'), rate(q.consumedPerSec));
  setText(byId('queue-totals'), `${q.producedTotal} offered · ${q.consumedTotal} taken`);
  const byId_ = new Map(s.workers.map((w) => [w.id, w]));
  const line = (id: string, what: 'produced' | 'consumed') => {
    const w = byId_.get(id);
    return el('span', undefined, `${id} ${w?.up ? `${w[what]}` : 'down'}`);
  };
  const key = [...q.producers, '|', ...q.consumers].map((id) => `${id}:${byId_.get(id)?.up}`).join(',');
  replaceIfChanged(byId('queue-roles'), key, () => {
    const rows: Node[] = [el('span', 'k', 'producers'), el('span', 'k', 'consumers')];
    const n = Math.max(q.producers.length, q.consumers.length);
    for (let i = 0; i < n; i++) {
      const p = q.producers[i];
      const c = q.consumers[i];
      rows.push(
        p !== undefined ? line(p, 'produced') : el('span'),
        c !== undefined ? line(c, 'consumed') : el('span'),
      );
    }
    return rows;
  });
  // Counts inside the fixed rows change every tick: update their text in place.
  const spans = byId('queue-roles').querySelectorAll('span:not(.k)');
  let i = 0;
  const n = Math.max(q.producers.length, q.consumers.length);
  for (let r = 0; r < n; r++) {
    for (const [ids, what] of [
      [q.producers, 'produced'],
      [q.consumers, 'consumed'],
    ] as const) {
      const span = spans[i++];
      const id = ids[r];
      if (span === undefined || id === undefined) continue;
      const w = byId_.get(id);
      setText(span, `${id}  ${w?.up ? `${what} ${w[what]}` : 'down'}`);
    }
  }
  const max = drawSparkline(byId('queue-spark') as unknown as SVGSVGElement, q.depthSeries);
  setText(byId('queue-spark-max'), `max ${max}`);
}
