import type { ZnodeView } from '../../shared/view-model.js';
import { ApiFailure, call } from '../api.js';
import { byId, el, replaceIfChanged, setText } from '../dom.js';
import { clock } from '../format.js';

/** Children shown per node: a queue can hold thousands, the browser stays readable. */
const MAX_CHILDREN_SHOWN = 200;
const STAT_FIELDS = [
  'version',
  'cversion',
  'aversion',
  'numChildren',
  'czxid',
  'mzxid',
  'pzxid',
  'dataLength',
  'ephemeralOwner',
  'ctime',
  'mtime',
];

const expanded = new Set<string>(['/', '/demo']);
const children = new Map<string, string[]>();
let selected = '/demo/config';
let current: ZnodeView | undefined;

const join = (parent: string, name: string) => (parent === '/' ? `/${name}` : `${parent}/${name}`);
const parentOf = (path: string) => (path.lastIndexOf('/') <= 0 ? '/' : path.slice(0, path.lastIndexOf('/')));

function status(text: string, kind: 'ok' | 'err' | ''): void {
  const line = byId('zn-status');
  line.textContent = text;
  line.className = `status-line ${kind}`;
  line.dataset.testid = 'znode-status';
}

function describe(err: unknown): string {
  return err instanceof ApiFailure ? err.describe() : String(err);
}

async function load(path: string): Promise<ZnodeView | undefined> {
  try {
    const z = await call<ZnodeView>('GET', `/api/znode?path=${encodeURIComponent(path)}`);
    children.set(path, z.children);
    return z;
  } catch (err) {
    if (err instanceof ApiFailure && err.code === 'NONODE') {
      children.delete(path);
      expanded.delete(path);
      if (selected === path) selected = parentOf(path);
    }
    return undefined;
  }
}

function renderTree(): void {
  const rows: { path: string; name: string; depth: number; more?: number }[] = [];
  const walk = (path: string, depth: number) => {
    rows.push({ path, name: path === '/' ? '/' : path.slice(path.lastIndexOf('/') + 1), depth });
    if (!expanded.has(path)) return;
    const kids = children.get(path) ?? [];
    for (const k of kids.slice(0, MAX_CHILDREN_SHOWN)) walk(join(path, k), depth + 1);
    if (kids.length > MAX_CHILDREN_SHOWN)
      rows.push({ path: `${path}/…`, name: '', depth: depth + 1, more: kids.length - MAX_CHILDREN_SHOWN });
  };
  walk('/', 0);
  const key = `${selected}|${rows.map((r) => `${r.path}:${expanded.has(r.path)}:${children.get(r.path)?.length ?? '?'}`).join(',')}`;
  replaceIfChanged(byId('tree'), key, () =>
    rows.map((r) => {
      const div = el('div', r.path === selected ? 'node sel' : 'node');
      div.style.paddingLeft = `${4 + r.depth * 14}px`;
      if (r.more !== undefined) {
        div.append(el('span', 'tw', ''), el('span', 'muted', `… ${r.more} more`));
        return div;
      }
      div.dataset.path = r.path;
      div.setAttribute('role', 'treeitem');
      const count = children.get(r.path)?.length;
      const open = expanded.has(r.path);
      const twisty = el('span', 'tw', count === 0 ? '·' : open ? '▾' : '▸');
      twisty.addEventListener('click', (ev) => {
        ev.stopPropagation();
        void toggle(r.path);
      });
      div.append(twisty, el('span', undefined, r.name));
      if (count !== undefined && count > 0) div.append(el('span', 'cnt', String(count)));
      div.addEventListener('click', () => void select(r.path));
      return div;
    }),
  );
}

function renderDetail(): void {
  setText(byId('zn-path'), selected);
  const data = byId('zn-data');
  if (current === undefined || current.path !== selected) {
    setText(data, '');
    replaceIfChanged(byId('zn-stat'), 'none', () => []);
    return;
  }
  setText(
    data,
    current.data === '' ? '(empty)' : current.encoding === 'hex' ? `hex: ${current.data}` : current.data,
  );
  const z = current;
  replaceIfChanged(byId('zn-stat'), JSON.stringify(z.stat), () =>
    STAT_FIELDS.filter((f) => f in z.stat).flatMap((f) => {
      let v = String(z.stat[f]);
      if (f === 'ctime' || f === 'mtime') v = Number(z.stat[f]) === 0 ? '0' : clock(Number(z.stat[f]));
      const dd = el('dd', undefined, v);
      dd.title = v;
      return [el('dt', undefined, f), dd];
    }),
  );
}

async function toggle(path: string): Promise<void> {
  if (expanded.has(path)) expanded.delete(path);
  else {
    expanded.add(path);
    await load(path);
  }
  renderTree();
}

async function select(path: string): Promise<void> {
  selected = path;
  current = await load(path);
  renderTree();
  renderDetail();
}

/** Re-reads the selected node and every expanded one (bounded), then redraws. */
export async function refreshZnodes(): Promise<void> {
  const paths = [...expanded].slice(0, 30);
  await Promise.all(paths.map((p) => load(p)));
  current = await load(selected);
  renderTree();
  renderDetail();
}

export function initZnodes(): void {
  byId('tree-refresh').addEventListener('click', () => void refreshZnodes());
  byId<HTMLFormElement>('zn-create').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target as HTMLFormElement);
    const name = String(f.get('name') ?? '');
    const path = name.startsWith('/') ? name : join(selected, name);
    try {
      const r = await call<{ path: string }>('POST', '/api/znode', {
        path,
        data: f.get('data'),
        mode: f.get('mode'),
      });
      status(`created ${r.path}`, 'ok');
      expanded.add(selected);
    } catch (err) {
      status(describe(err), 'err');
    }
    await refreshZnodes();
  });
  byId<HTMLFormElement>('zn-set').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target as HTMLFormElement);
    try {
      const r = await call<{ version: number }>('PUT', '/api/znode', {
        path: selected,
        data: f.get('data'),
        version: f.get('version'),
      });
      status(`set ${selected}: now version ${r.version}`, 'ok');
    } catch (err) {
      status(describe(err), 'err');
    }
    await refreshZnodes();
  });
  byId('zn-delete').addEventListener('click', async () => {
    const f = new FormData(byId<HTMLFormElement>('zn-set'));
    const path = selected;
    try {
      await call('DELETE', '/api/znode', { path, version: f.get('version') });
      status(`deleted ${path}`, 'ok');
      selected = parentOf(path);
    } catch (err) {
      status(describe(err), 'err');
    }
    await refreshZnodes();
  });
  void refreshZnodes();
  setInterval(() => void refreshZnodes(), 2000);
}
