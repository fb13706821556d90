/**
 * The dashboard in the browser: one EventSource (`/api/events`) brings a snapshot 4 times a second
 * and every event-log entry as it happens; each panel renders the snapshot into fixed DOM.
 */
import type { DashboardSnapshot, LogEntry } from '../shared/view-model.js';
import { byId, setClass, setText } from './dom.js';
import { duration } from './format.js';
import { initConfig, renderConfig } from './panels/config.js';
import { initElection, renderElection } from './panels/election.js';
import { addLogEntries, initEventLog } from './panels/event-log.js';
import { renderLock } from './panels/lock.js';
import { initMembers, renderMembers } from './panels/members.js';
import { renderQueue } from './panels/queue.js';
import { renderWorkers } from './panels/workers.js';
import { initZnodes } from './panels/znodes.js';

let localSeq = 1_000_000_000;
/** Errors of the buttons themselves (e.g. the backend refused) go to the event log too. */
function report(text: string, isError: boolean): void {
  addLogEntries([{ seq: localSeq++, atMs: Date.now(), kind: isError ? 'error' : 'member', text }]);
}

function renderHeader(s: DashboardSnapshot): void {
  const leader = byId('sum-leader');
  if (s.leaderId !== null) {
    setText(leader, `leader: member ${s.leaderId}`);
    setClass(leader, 'chip lead');
  } else {
    const since = s.noLeaderSinceMs !== null ? ` for ${duration(s.nowMs - s.noLeaderSinceMs)}` : '';
    setText(leader, `no leader${since}`);
    setClass(leader, 'chip bad');
  }
  setText(byId('sum-epoch'), `epoch ${s.epoch ?? '—'}`);
  setText(byId('sum-note'), s.ensembleNote);
  byId('sum-note').title =
    `${s.ensembleNote}\nclient endpoints: ${s.connectString}\ndashboard session: ${s.backendConnection}`;
}

function render(s: DashboardSnapshot): void {
  for (const f of [
    renderHeader,
    renderMembers,
    renderWorkers,
    renderLock,
    renderElection,
    renderConfig,
    renderQueue,
  ]) {
    try {
      f(s);
    } catch (err) {
      console.error(err);
    }
  }
}

function setLive(on: boolean, text: string): void {
  setClass(byId('live-dot'), on ? 'dot on' : 'dot off');
  setText(byId('live-text'), text);
}

function connectStream(): void {
  const source = new EventSource('/api/events');
  source.addEventListener('open', () => setLive(true, 'live'));
  source.addEventListener('error', () => setLive(false, 'reconnecting'));
  source.addEventListener('snapshot', (ev) =>
    render(JSON.parse((ev as MessageEvent).data) as DashboardSnapshot),
  );
  source.addEventListener('log-backlog', (ev) =>
    addLogEntries(JSON.parse((ev as MessageEvent).data) as LogEntry[]),
  );
  source.addEventListener('log', (ev) => addLogEntries([JSON.parse((ev as MessageEvent).data) as LogEntry]));
}

initMembers(report);
initElection(report);
initConfig();
initEventLog();
initZnodes();
connectStream();
