import type { DashboardSnapshot, WorkerView } from '../../shared/view-model.js';
import { call } from '../api.js';
import { byId, el, setClass, setText } from '../dom.js';
import { duration } from '../format.js';

interface Row {
  tr: HTMLTableRowElement;
  star: HTMLElement;
  name: HTMLElement;
  role: HTMLElement;
  session: HTMLElement;
  lock: HTMLElement;
  lockFor: HTMLElement;
  restarts: HTMLElement;
  kill: HTMLButtonElement;
  restart: HTMLButtonElement;
}

const rows = new Map<string, Row>();

function button(label: string, action: string, id: string): HTMLButtonElement {
  const b = el('button', 'btn', label);
  b.type = 'button';
  b.dataset.action = `worker-${action}`;
  b.dataset.worker = id;
  b.addEventListener('click', () => {
    b.disabled = true;
    void call('POST', `/api/workers/${id}/${action}`).catch(() => {});
  });
  return b;
}

function row(w: WorkerView): Row {
  const tr = el('tr');
  tr.dataset.worker = w.id;
  const nameCell = el('td');
  const star = el('span', 'star');
  const name = el('span', 'mono', w.id);
  nameCell.append(star, name);
  const role = el('td', 'mono', w.roles.join(', '));
  const sessionCell = el('td');
  const session = el('span', 'state');
  sessionCell.append(session);
  const lockCell = el('td');
  const lock = el('span', 'lockstate');
  const lockFor = el('span', 'muted small num');
  lockCell.append(lock, lockFor);
  const restarts = el('td', 'num');
  const actions = el('td', 'actions');
  const r: Row = {
    tr,
    star,
    name,
    role,
    session,
    lock,
    lockFor,
    restarts,
    kill: button('kill', 'kill', w.id),
    restart: button('start', 'restart', w.id),
  };
  actions.append(r.kill, r.restart);
  tr.append(nameCell, role, sessionCell, lockCell, restarts, actions);
  return r;
}

export function renderWorkers(s: DashboardSnapshot): void {
  const body = byId('workers-table').querySelector('tbody')!;
  for (const w of s.workers) {
    let r = rows.get(w.id);
    if (r === undefined) {
      r = row(w);
      rows.set(w.id, r);
      body.append(r.tr);
    }
    setClass(r.tr, w.up ? '' : 'down');
    setText(r.star, w.isLeader ? '★' : '');
    r.star.title = w.isLeader ? 'election leader' : '';
    setText(r.session, w.connection);
    setClass(r.session, `state ${w.connection}`);
    setText(r.lock, w.up ? w.lock : '—');
    setClass(r.lock, `lockstate ${w.lock}`);
    setText(r.lockFor, w.up && w.lockSinceMs !== null ? duration(s.nowMs - w.lockSinceMs) : '');
    setText(r.restarts, String(w.restarts));
    r.kill.disabled = !w.up;
    r.restart.disabled = w.up;
  }
}
