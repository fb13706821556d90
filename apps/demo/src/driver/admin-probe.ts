/** What one member's admin endpoint says about it. */
export interface AdminAnswer {
  role: string;
  leaderId: number | null;
  serving: boolean;
  epoch: number;
  lastZxid: string;
  sessions: number;
  connections: number | null;
  znodes: number | null;
}

/** The fields of `/admin/ensemble` the dashboard shows (see @conclave/server's MemberStatus). */
interface EnsembleStatus {
  role: string;
  leaderId: number | null;
  serving: boolean;
  currentEpoch: number;
  lastAppliedZxid: string;
  sessions: number;
}

async function get(url: string, timeoutMs: number): Promise<string | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return res.ok ? await res.text() : undefined;
  } catch {
    return undefined;
  }
}

/** One gauge from `mntr`'s Prometheus text, or null when absent. */
export function mntrValue(text: string, name: string): number | null {
  const m = new RegExp(`^${name} ([0-9.eE+-]+)$`, 'm').exec(text);
  return m?.[1] !== undefined ? Number(m[1]) : null;
}

/**
 * Asks a member for its facts: `/admin/ensemble` (role, epoch, zxid, sessions) and `/admin/mntr`
 * (client connections, znodes). Undefined when the member does not answer in time: the dashboard
 * then shows it as down rather than guess.
 */
export async function probeMember(clientPort: number, timeoutMs = 800): Promise<AdminAnswer | undefined> {
  const base = `http://127.0.0.1:${clientPort}/admin`;
  const [ensembleText, mntrText] = await Promise.all([
    get(`${base}/ensemble`, timeoutMs),
    get(`${base}/mntr`, timeoutMs),
  ]);
  if (ensembleText === undefined) return undefined;
  let status: EnsembleStatus;
  try {
    status = JSON.parse(ensembleText) as EnsembleStatus;
  } catch {
    return undefined;
  }
  return {
    role: status.role,
    leaderId: status.leaderId,
    serving: status.serving,
    epoch: status.currentEpoch,
    lastZxid: status.lastAppliedZxid,
    sessions: status.sessions,
    connections: mntrText !== undefined ? mntrValue(mntrText, 'zk_num_alive_connections') : null,
    znodes: mntrText !== undefined ? mntrValue(mntrText, 'zk_znode_count') : null,
  };
}
