import type { ApiError } from '../shared/view-model.js';

/** A call the backend refused, with Conclave's error code when there is one (e.g. NODEEXISTS -110). */
export class ApiFailure extends Error {
  constructor(
    readonly code: string,
    readonly errno: number | null,
    message: string,
  ) {
    super(message);
  }

  /** 'NODEEXISTS (-110): …' */
  describe(): string {
    // Conclave's messages often start with the code already: say it once.
    const text = this.message.startsWith(`${this.code}: `)
      ? this.message.slice(this.code.length + 2)
      : this.message;
    return `${this.code}${this.errno !== null ? ` (${this.errno})` : ''}: ${text}`;
  }
}

export async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (err) {
    throw new ApiFailure('NETWORK', null, `the demo backend is unreachable (${(err as Error).message})`);
  }
  const json = (await res.json().catch(() => null)) as unknown;
  if (!res.ok) {
    const e = (json as ApiError | null)?.error;
    throw new ApiFailure(e?.code ?? `HTTP ${res.status}`, e?.errno ?? null, e?.message ?? res.statusText);
  }
  return json as T;
}
