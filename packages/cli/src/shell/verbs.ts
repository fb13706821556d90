import {
  type ACL,
  BadArgumentsError,
  CreateMode,
  type CreateModeFlag,
  parsePerms,
  type Stat,
  type WatchedEvent,
} from '@conclave/core';
import { describeError, formatAcl, formatStat } from './format.js';

/** The client calls the shell uses (a subset of @conclave/client's ConclaveClient). */
export interface ShellClient {
  create(
    path: string,
    data?: string | Uint8Array,
    opts?: { mode?: CreateModeFlag; acl?: ACL[]; ttlMs?: number },
  ): Promise<string>;
  delete(path: string, opts?: { version?: number }): Promise<void>;
  exists(path: string, opts?: { watch?: (e: WatchedEvent) => void }): Promise<Stat | null>;
  getData(
    path: string,
    opts?: { watch?: (e: WatchedEvent) => void },
  ): Promise<{ data: Uint8Array; stat: Stat }>;
  setData(path: string, data: string | Uint8Array, opts?: { version?: number }): Promise<Stat>;
  getChildren(
    path: string,
    opts?: { watch?: (e: WatchedEvent) => void },
  ): Promise<{ children: string[]; stat: Stat }>;
  getACL(path: string): Promise<{ acl: ACL[]; stat: Stat } | ACL[]>;
  setACL(path: string, acl: ACL[], opts?: { version?: number }): Promise<Stat>;
  sync(path: string): Promise<unknown>;
  addAuth(scheme: string, auth: string | Uint8Array): Promise<void>;
  /** The client's connection state (ConclaveClient.state); the shell notices 'EXPIRED'. */
  readonly state?: string;
  readonly sessionId?: bigint;
}

export interface ShellOutput {
  out(text: string): void;
  err(text: string): void;
}

export class UsageError extends Error {}

interface Parsed {
  flags: Map<string, string | true>;
  args: string[];
}

/** Splits `-x` flags (some taking a value) from positional arguments. */
function parse(argv: string[], withValue: string[], boolean: string[], usage: string): Parsed {
  const flags = new Map<string, string | true>();
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('-') && a.length > 1 && args.length === 0 && !/^-\d/.test(a)) {
      const name = a.slice(1);
      if (withValue.includes(name)) {
        const v = argv[++i];
        if (v === undefined) throw new UsageError(`-${name} needs a value\nusage: ${usage}`);
        flags.set(name, v);
      } else if (boolean.includes(name)) {
        flags.set(name, true);
      } else {
        throw new UsageError(`unknown option ${a}\nusage: ${usage}`);
      }
    } else {
      args.push(a);
    }
  }
  return { flags, args };
}

function int(v: string | true | undefined, what: string): number | undefined {
  if (v === undefined || v === true) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new UsageError(`${what} must be an integer, got ${JSON.stringify(v)}`);
  return n;
}

/** zkCli's ACL syntax: `scheme:id:perms[,scheme:id:perms…]` (the id may itself contain ':'). */
export function parseAcl(text: string): ACL[] {
  return text.split(',').map((part) => {
    const first = part.indexOf(':');
    const last = part.lastIndexOf(':');
    if (first <= 0 || last === first)
      throw new UsageError(`ACL entry ${JSON.stringify(part)} must be scheme:id:perms`);
    const perms = parsePerms(part.slice(last + 1));
    if (perms === undefined)
      throw new UsageError(`ACL perms in ${JSON.stringify(part)} must be letters of cdrwa`);
    return { perms, id: { scheme: part.slice(0, first), id: part.slice(first + 1, last) } };
  });
}

const OPEN_ACL: ACL[] = [{ perms: 31, id: { scheme: 'world', id: 'anyone' } }];
const td = new TextDecoder();

function need(args: string[], n: number, usage: string): void {
  if (args.length < n) throw new UsageError(`usage: ${usage}`);
}

function join(parent: string, child: string): string {
  return parent === '/' ? `/${child}` : `${parent}/${child}`;
}

/** Every path under `root` (root first), breadth first, bounded. */
async function walk(client: ShellClient, root: string, limit = 1_000_000): Promise<string[]> {
  const out: string[] = [root];
  for (let i = 0; i < out.length && out.length < limit; i++) {
    const { children } = await client.getChildren(out[i]!);
    for (const c of children.sort()) out.push(join(out[i]!, c));
  }
  return out;
}

export const VERBS: Record<string, string> = {
  ls: 'ls [-s] [-R] path',
  get: 'get [-s] [-w] path',
  set: 'set [-s] [-v version] path data',
  create: 'create [-e] [-s] [-c] [-t ttl] path [data] [acl]',
  delete: 'delete [-v version] path',
  deleteall: 'deleteall path',
  stat: 'stat [-w] path',
  sync: 'sync path',
  getAcl: 'getAcl [-s] path',
  setAcl: 'setAcl [-s] [-v version] [-R] path acl',
  addauth: 'addauth scheme auth',
  help: 'help',
};

function watchPrinter(io: ShellOutput) {
  return (e: WatchedEvent) =>
    io.out(`\nWATCHER::\n\nWatchedEvent state:SyncConnected type:${e.type} path:${e.path}`);
}

/**
 * Runs one zkCli verb. Returns the exit code: 0 success, 1 the server refused (the error is
 * printed ZooKeeper-style with a hint), 2 a usage error.
 */
export async function runVerb(client: ShellClient, argv: string[], io: ShellOutput): Promise<number> {
  const [verb, ...rest] = argv;
  let path: string | undefined;
  try {
    switch (verb) {
      case 'ls': {
        const u = VERBS.ls!;
        const { flags, args } = parse(rest, [], ['s', 'R', 'w'], u);
        need(args, 1, u);
        path = args[0]!;
        if (flags.has('R')) {
          for (const p of await walk(client, path)) io.out(p);
        } else {
          const { children, stat } = await client.getChildren(
            path,
            flags.has('w') ? { watch: watchPrinter(io) } : {},
          );
          io.out(`[${children.sort().join(', ')}]`);
          if (flags.has('s')) io.out(formatStat(stat));
        }
        return 0;
      }
      case 'get': {
        const u = VERBS.get!;
        const { flags, args } = parse(rest, [], ['s', 'w'], u);
        need(args, 1, u);
        path = args[0]!;
        const { data, stat } = await client.getData(path, flags.has('w') ? { watch: watchPrinter(io) } : {});
        io.out(data.length === 0 ? 'null' : td.decode(data));
        if (flags.has('s')) io.out(formatStat(stat));
        return 0;
      }
      case 'set': {
        const u = VERBS.set!;
        const { flags, args } = parse(rest, ['v'], ['s'], u);
        need(args, 2, u);
        path = args[0]!;
        const stat = await client.setData(path, args[1]!, { version: int(flags.get('v'), 'version') ?? -1 });
        if (flags.has('s')) io.out(formatStat(stat));
        return 0;
      }
      case 'create': {
        const u = VERBS.create!;
        const { flags, args } = parse(rest, ['t'], ['e', 's', 'c'], u);
        need(args, 1, u);
        path = args[0]!;
        const ttlMs = int(flags.get('t'), 'ttl');
        const e = flags.has('e');
        const s = flags.has('s');
        if (flags.has('c') && (e || s || ttlMs !== undefined))
          throw new UsageError('-c cannot be combined with -e, -s or -t');
        if (e && ttlMs !== undefined) throw new UsageError('-t cannot be combined with -e');
        let mode: CreateModeFlag = CreateMode.PERSISTENT;
        if (flags.has('c')) mode = CreateMode.CONTAINER;
        else if (ttlMs !== undefined)
          mode = s ? CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL : CreateMode.PERSISTENT_WITH_TTL;
        else if (e) mode = s ? CreateMode.EPHEMERAL_SEQUENTIAL : CreateMode.EPHEMERAL;
        else if (s) mode = CreateMode.PERSISTENT_SEQUENTIAL;
        const acl = args[2] !== undefined ? parseAcl(args[2]) : OPEN_ACL;
        const created = await client.create(path, args[1] ?? '', {
          mode,
          acl,
          ...(ttlMs !== undefined ? { ttlMs } : {}),
        });
        io.out(`Created ${created}`);
        return 0;
      }
      case 'delete': {
        const u = VERBS.delete!;
        const { flags, args } = parse(rest, ['v'], [], u);
        need(args, 1, u);
        path = args[0]!;
        await client.delete(path, { version: int(flags.get('v'), 'version') ?? -1 });
        return 0;
      }
      case 'deleteall':
      case 'rmr': {
        const u = VERBS.deleteall!;
        const { args } = parse(rest, [], [], u);
        need(args, 1, u);
        path = args[0]!;
        if (path === '/') throw new UsageError('refusing to delete the root');
        const all = await walk(client, path);
        for (const p of all.reverse()) {
          path = p;
          await client.delete(p, { version: -1 });
        }
        return 0;
      }
      case 'stat': {
        const u = VERBS.stat!;
        const { flags, args } = parse(rest, [], ['w'], u);
        need(args, 1, u);
        path = args[0]!;
        const stat = await client.exists(path, flags.has('w') ? { watch: watchPrinter(io) } : {});
        if (stat === null) {
          io.err(`Node does not exist: ${path} (NONODE)`);
          io.err('hint: check the path with ls, or create the node first');
          return 1;
        }
        io.out(formatStat(stat));
        return 0;
      }
      case 'sync': {
        const { args } = parse(rest, [], [], VERBS.sync!);
        need(args, 1, VERBS.sync!);
        path = args[0]!;
        await client.sync(path);
        io.out('Sync is OK');
        return 0;
      }
      case 'getAcl': {
        const u = VERBS.getAcl!;
        const { flags, args } = parse(rest, [], ['s'], u);
        need(args, 1, u);
        path = args[0]!;
        const r = await client.getACL(path);
        const acl = Array.isArray(r) ? r : r.acl;
        io.out(formatAcl(acl));
        if (flags.has('s') && !Array.isArray(r)) io.out(formatStat(r.stat));
        return 0;
      }
      case 'setAcl': {
        const u = VERBS.setAcl!;
        const { flags, args } = parse(rest, ['v'], ['s', 'R'], u);
        need(args, 2, u);
        path = args[0]!;
        const acl = parseAcl(args[1]!);
        const version = int(flags.get('v'), 'version') ?? -1;
        const targets = flags.has('R') ? await walk(client, path) : [path];
        let stat: Stat | undefined;
        for (const p of targets) {
          path = p;
          stat = await client.setACL(p, acl, { version: p === args[0] ? version : -1 });
        }
        if (flags.has('s') && stat !== undefined) io.out(formatStat(stat));
        return 0;
      }
      case 'addauth': {
        const u = VERBS.addauth!;
        const { args } = parse(rest, [], [], u);
        need(args, 2, u);
        await client.addAuth(args[0]!, args[1]!);
        return 0;
      }
      case 'help':
      case undefined:
        io.out(
          `commands:\n${Object.values(VERBS)
            .map((v) => `\t${v}`)
            .join('\n')}`,
        );
        return 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(verb)}; try help`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(err.message);
      return 2;
    }
    if (err instanceof BadArgumentsError) {
      io.err(`${err.message}`);
      io.err('hint: paths are absolute, like /app/config, without a trailing /');
      return 1;
    }
    for (const line of describeError(err, path)) io.err(line);
    return 1;
  }
}
