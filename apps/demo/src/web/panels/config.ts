import type { DashboardSnapshot } from '../../shared/view-model.js';
import { ApiFailure, call } from '../api.js';
import { byId, el, replaceIfChanged, setText } from '../dom.js';

let shownVersion: number | null | undefined;
let shownText = '';

function status(text: string, kind: 'ok' | 'err' | ''): void {
  const line = byId('config-status');
  line.textContent = text;
  line.className = `status-line ${kind}`;
}

export function initConfig(): void {
  const editor = byId<HTMLTextAreaElement>('config-editor');
  editor.addEventListener('input', () => editor.classList.toggle('dirty', editor.value !== shownText));
  byId('config-reset').addEventListener('click', () => {
    editor.value = shownText;
    editor.classList.remove('dirty');
    status('', '');
  });
  byId('config-apply').addEventListener('click', async () => {
    try {
      JSON.parse(editor.value);
    } catch (err) {
      return status(`not JSON: ${(err as Error).message}`, 'err');
    }
    status('writing…', '');
    try {
      const { version } = await call<{ version: number }>('POST', '/api/config', { text: editor.value });
      editor.classList.remove('dirty');
      shownVersion = undefined; // take the server's rendering of what we wrote
      status(`version ${version} written`, 'ok');
    } catch (err) {
      status(err instanceof ApiFailure ? err.describe() : String(err), 'err');
    }
  });
}

export function renderConfig(s: DashboardSnapshot): void {
  const c = s.config;
  setText(
    byId('config-version'),
    c.version === null || c.version < 0 ? 'default (no znode yet)' : `version ${c.version}`,
  );
  const editor = byId<HTMLTextAreaElement>('config-editor');
  // Never overwrite what the user is typing: refresh only while the editor is clean.
  if (c.version !== shownVersion && !editor.classList.contains('dirty')) {
    shownVersion = c.version;
    shownText = JSON.stringify(c.value, null, 2);
    editor.value = shownText;
    editor.scrollTop = 0;
  }
  const key =
    s.workers.map((w) => `${w.id}:${w.up}:${w.configVersion}:${JSON.stringify(w.config)}`).join('|') +
    c.version;
  replaceIfChanged(byId('config-workers'), key, () =>
    s.workers.flatMap((w) => {
      const current = w.configVersion === c.version;
      const name = el('span', undefined, w.id);
      const version = el(
        'span',
        current ? 'cur' : 'stale',
        w.configVersion === null ? '—' : w.configVersion < 0 ? 'dflt' : `v${w.configVersion}`,
      );
      version.dataset.workerConfig = w.id;
      const value = el('span', 'val', w.up ? JSON.stringify(w.config) : '(down)');
      value.title = JSON.stringify(w.config, null, 2);
      return [name, version, value];
    }),
  );
}
