import type { ConclaveClient } from '@conclave/client';
import type { ZnodeView } from '../shared/view-model.js';

const CREATE_MODES = new Set([
  'PERSISTENT',
  'EPHEMERAL',
  'PERSISTENT_SEQUENTIAL',
  'EPHEMERAL_SEQUENTIAL',
  'CONTAINER',
]);

/** An error the browser should show as is (bad input that never reached Conclave). */
export class RequestError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function decode(data: Uint8Array): { data: string; encoding: 'utf8' | 'hex' } {
  try {
    return { data: new TextDecoder('utf-8', { fatal: true }).decode(data), encoding: 'utf8' };
  } catch {
    return { data: Buffer.from(data).toString('hex'), encoding: 'hex' };
  }
}

function stringField(body: Record<string, unknown>, name: string): string {
  const v = body[name];
  if (typeof v !== 'string') throw new RequestError('BADARGUMENTS', `"${name}" must be a string`);
  return v;
}

function versionField(body: Record<string, unknown>): number {
  const v = body.version;
  if (v === undefined || v === null || v === '') return -1;
  const n = Number(v);
  if (!Number.isInteger(n) || n < -1)
    throw new RequestError('BADARGUMENTS', '"version" must be an integer ≥ -1');
  return n;
}

/**
 * The znode browser's calls, made with the dashboard's own session. Conclave's typed errors
 * (NONODE, NODEEXISTS, BADVERSION, NOTEMPTY, NOCHILDRENFOREPHEMERALS, BADARGUMENTS…) pass through
 * to the browser unchanged: showing them is the point.
 */
export const znodeApi = {
  async read(client: ConclaveClient, path: string): Promise<ZnodeView> {
    const [{ data, stat }, { children }] = await Promise.all([
      client.getData(path),
      client.getChildren(path),
    ]);
    const s: Record<string, string | number> = {};
    for (const [k, v] of Object.entries(stat)) {
      s[k] =
        typeof v === 'bigint'
          ? k.endsWith('zxid') || k === 'ephemeralOwner'
            ? `0x${v.toString(16)}`
            : Number(v)
          : (v as number);
    }
    return { path, ...decode(data), stat: s, children: [...children].sort() };
  },

  async create(client: ConclaveClient, body: Record<string, unknown>): Promise<{ path: string }> {
    const path = stringField(body, 'path');
    const data = typeof body.data === 'string' ? body.data : '';
    const mode = typeof body.mode === 'string' ? body.mode : 'PERSISTENT';
    if (!CREATE_MODES.has(mode)) throw new RequestError('BADARGUMENTS', `unknown create mode ${mode}`);
    const created = await client.create(path, data, { mode: mode as 'PERSISTENT' });
    return { path: created };
  },

  async set(client: ConclaveClient, body: Record<string, unknown>): Promise<{ version: number }> {
    const stat = await client.setData(stringField(body, 'path'), stringField(body, 'data'), {
      version: versionField(body),
    });
    return { version: stat.version };
  },

  async remove(client: ConclaveClient, body: Record<string, unknown>): Promise<{ ok: true }> {
    await client.delete(stringField(body, 'path'), { version: versionField(body) });
    return { ok: true };
  },
};
