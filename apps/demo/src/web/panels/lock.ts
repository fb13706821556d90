import type { DashboardSnapshot } from '../../shared/view-model.js';
import { byId, el, replaceIfChanged, setClass, setText } from '../dom.js';
import { dash, duration, rate } from '../format.js';
import { drawSparkline } from '../sparkline.js';

export function chipsWithArrows(ids: string[], empty: string): Node[] {
  if (ids.length === 0) return [el('span', 'muted small', empty)];
  return ids.flatMap((id, i) =>
    i === 0 ? [el('span', 'chip', id)] : [el('span', 'arrow', '→'), el('span', 'chip', id)],
  );
}

export function renderLock(s: DashboardSnapshot): void {
  const l = s.lock;
  setText(byId('lock-path'), l.path);
  const holder = byId('lock-holder');
  setText(holder, l.holder ?? 'free');
  setClass(holder, l.holder === null ? 'big none' : 'big lead');
  setText(byId('lock-held'), l.holderSinceMs === null ? '—' : duration(s.nowMs - l.holderSinceMs));
  setText(byId('lock-rate'), rate(l.handoffsPerSec));
  setText(byId('lock-nodes'), dash(l.queueNodes));
  replaceIfChanged(byId('lock-waiters'), l.waiters.join(','), () =>
    chipsWithArrows(l.waiters, 'nobody waits'),
  );
  const max = drawSparkline(byId('lock-spark') as unknown as SVGSVGElement, l.handoffsSeries);
  setText(byId('lock-spark-max'), `max ${rate(max)}`);
}
