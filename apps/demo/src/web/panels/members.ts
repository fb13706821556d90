import type { DashboardSnapshot, MemberView } from '../../shared/view-model.js';
import { call } from '../api.js';
import { byId, el, setClass, setText } from '../dom.js';
import { dash } from '../format.js';

interface Row {
  tr: HTMLTableRowElement;
  id: HTMLElement;
  tag: HTMLElement;
  role: HTMLElement;
  cells: HTMLTableCellElement[];
  kill: HTMLButtonElement;
  restart: HTMLButtonElement;
  isolate: HTMLButtonElement;
}

const rows = new Map<number, Row>();
let report: (text: string, isError: boolean) => void = () => {};

function button(label: string, action: string, id: number, title: string): HTMLButtonElement {
  const b = el('button', 'btn', label);
  b.type = 'button';
  b.title = title;
  b.dataset.action = action;
  b.dataset.member = String(id);
  b.addEventListener('click', () => {
    b.disabled = true;
    call('POST', `/api/members/${id}/${action}`).catch((err: Error) =>
      report(`${action} member ${id}: ${err.message}`, true),
    );
  });
  return b;
}

function row(id: number): Row {
  const tr = el('tr');
  tr.dataset.member = String(id);
  const idCell = el('td');
  const idText = el('span', undefined, `#${id}`);
  const tag = el('span', 'tag');
  idCell.append(idText, tag);
  const roleCell = el('td');
  const role = el('span', 'role');
  roleCell.append(role);
  const cells = Array.from({ length: 6 }, () => el('td', 'num'));
  const actions = el('td', 'actions');
  const r: Row = {
    tr,
    id: idText,
    tag,
    role,
    cells,
    kill: button('kill', 'kill', id, 'SIGKILL the member process'),
    restart: button('restart', 'restart', id, 'Start it again on its data directory'),
    isolate: button('isolate', 'isolate', id, 'Cut every quorum link of this member (a partition)'),
  };
  actions.append(r.kill, r.restart, r.isolate);
  tr.append(idCell, roleCell, ...cells, actions);
  return r;
}

function update(r: Row, m: MemberView): void {
  r.tr.dataset.role = m.role;
  r.tr.dataset.serving = String(m.serving);
  r.tr.dataset.up = String(m.up);
  setClass(r.tr, m.up ? '' : 'down');
  setText(r.role, m.role);
  setClass(r.role, `role ${m.role}`);
  setText(r.tag, m.busy ?? (m.isolated ? 'isolated' : m.up && !m.serving ? 'not serving' : ''));
  const values = [m.epoch, m.lastZxid, m.sessions, m.connections, m.znodes, m.pid];
  for (const [i, v] of values.entries()) setText(r.cells[i]!, dash(v));
  const running = m.pid !== null;
  r.kill.disabled = !running || m.busy !== null;
  r.restart.disabled = running || m.busy !== null;
  r.isolate.disabled = !running || m.isolated || m.busy !== null;
}

export function initMembers(onReport: (text: string, isError: boolean) => void): void {
  report = onReport;
  byId('heal-all').addEventListener('click', () => {
    call('POST', '/api/heal').catch((err: Error) => report(`heal: ${err.message}`, true));
  });
}

export function renderMembers(s: DashboardSnapshot): void {
  const body = byId('members-table').querySelector('tbody')!;
  for (const m of s.members) {
    let r = rows.get(m.id);
    if (r === undefined) {
      r = row(m.id);
      rows.set(m.id, r);
      body.append(r.tr);
    }
    update(r, m);
  }
  const up = s.members.filter((m) => m.up).length;
  const quorum = Math.floor(s.members.length / 2) + 1;
  setText(byId('members-note'), `${up}/${s.members.length} up · quorum ${quorum}`);
}
