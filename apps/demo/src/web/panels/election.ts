import type { DashboardSnapshot } from '../../shared/view-model.js';
import { call } from '../api.js';
import { byId, el, replaceIfChanged, setClass, setText } from '../dom.js';
import { clock, duration } from '../format.js';
import { chipsWithArrows } from './lock.js';

export function initElection(report: (text: string, isError: boolean) => void): void {
  byId('resign').addEventListener('click', () => {
    call('POST', '/api/election/resign').catch((err: Error) => report(`resign: ${err.message}`, true));
  });
}

export function renderElection(s: DashboardSnapshot): void {
  const e = s.election;
  const leader = byId('election-leader');
  setText(leader, e.leader ?? 'none');
  setClass(leader, e.leader === null ? 'big none' : 'big lead');
  const since = e.history[0]?.atMs;
  setText(byId('election-for'), e.leader !== null && since !== undefined ? duration(s.nowMs - since) : '—');
  replaceIfChanged(byId('election-participants'), e.participants.join(','), () =>
    chipsWithArrows(e.participants, 'no participants'),
  );
  // History: newest first; each line says how long that leadership lasted.
  const key = e.history.map((h) => `${h.atMs}:${h.leader}`).join(',');
  replaceIfChanged(byId('election-history'), key, () =>
    e.history.map((h, i) => {
      const li = el('li');
      const until = i === 0 ? null : e.history[i - 1]!.atMs;
      li.append(
        el('span', 't', clock(h.atMs).slice(0, 8)),
        el('span', 'who', h.leader ?? 'none'),
        el('span', 'dur', until === null ? 'current' : `led ${duration(until - h.atMs)}`),
      );
      return li;
    }),
  );
}
