import { BadArgumentsError, validatePath } from '@conclave/core';

/**
 * Connect strings, as ZooKeeper spells them: `host:port[,host:port…][/chroot]`.
 *
 * - A member without a port gets ZooKeeper's default, 2181.
 * - IPv6 literals go in brackets: `[::1]:2181`.
 * - The optional chroot after the first `/` roots every path of the client there: with
 *   `h:1/app`, the client's `/x` is the server's `/app/x`. A chroot of `/` is no chroot.
 */

/** One ensemble member the client may connect to. */
export interface Member {
  host: string;
  port: number;
}

export interface ConnectString {
  members: Member[];
  /** The chroot path, or undefined when the client sees the whole tree. */
  chroot: string | undefined;
}

/** ZooKeeper's client port, used when a member leaves the port out. */
export const DEFAULT_PORT = 2181;

/** Most members one connect string may name: an ensemble is small, a longer list is a mistake. */
export const MAX_MEMBERS = 255;

function bad(text: string, what: string): never {
  throw new BadArgumentsError(
    `invalid connect string ${JSON.stringify(text)}: ${what} (expected host:port[,host:port...][/chroot])`,
  );
}

function parseMember(text: string, part: string): Member {
  let host: string;
  let portText: string | undefined;
  if (part.startsWith('[')) {
    const close = part.indexOf(']');
    if (close < 0) bad(text, `unterminated IPv6 literal in ${JSON.stringify(part)}`);
    host = part.slice(1, close);
    const rest = part.slice(close + 1);
    if (rest.length > 0) {
      if (!rest.startsWith(':')) bad(text, `unexpected ${JSON.stringify(rest)} after IPv6 literal`);
      portText = rest.slice(1);
    }
  } else {
    const colon = part.lastIndexOf(':');
    if (colon >= 0 && part.indexOf(':') !== colon)
      bad(text, `IPv6 literal ${JSON.stringify(part)} needs brackets`);
    host = colon < 0 ? part : part.slice(0, colon);
    portText = colon < 0 ? undefined : part.slice(colon + 1);
  }
  if (host.length === 0) bad(text, `empty host in ${JSON.stringify(part)}`);
  if (/[\s/?#@]/.test(host)) bad(text, `invalid host ${JSON.stringify(host)}`);
  let port = DEFAULT_PORT;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText)) bad(text, `invalid port ${JSON.stringify(portText)}`);
    port = Number(portText);
    if (port < 1 || port > 65535) bad(text, `port ${port} is out of range 1-65535`);
  }
  return { host, port };
}

/** Parses a connect string; throws BadArgumentsError naming what is wrong. */
export function parseConnectString(text: string): ConnectString {
  if (typeof text !== 'string') throw new BadArgumentsError('a connect string must be a string');
  const trimmed = text.trim();
  const slash = trimmed.indexOf('/');
  const hostsPart = slash < 0 ? trimmed : trimmed.slice(0, slash);
  const chrootPart = slash < 0 ? undefined : trimmed.slice(slash);
  if (hostsPart.length === 0) bad(text, 'no members');
  const parts = hostsPart.split(',').map((p) => p.trim());
  if (parts.length > MAX_MEMBERS) bad(text, `more than ${MAX_MEMBERS} members`);
  const members = parts.map((p) => {
    if (p.length === 0) bad(text, 'empty member');
    return parseMember(text, p);
  });
  let chroot: string | undefined;
  if (chrootPart !== undefined && chrootPart !== '/') {
    try {
      validatePath(chrootPart);
    } catch (err) {
      bad(text, `invalid chroot: ${(err as Error).message}`);
    }
    chroot = chrootPart;
  }
  return { members, chroot };
}

/** Formats a member for URLs and messages (IPv6 literals in brackets). */
export function formatMember(member: Member): string {
  return member.host.includes(':') ? `[${member.host}]:${member.port}` : `${member.host}:${member.port}`;
}

/**
 * A copy of `members` in random order (Fisher–Yates), so that many clients with the same connect
 * string spread over the ensemble instead of all landing on its first member.
 */
export function shuffleMembers(members: readonly Member[], random: () => number = Math.random): Member[] {
  const out = members.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const tmp = out[i]!;
    out[i] = out[j]!;
    out[j] = tmp;
  }
  return out;
}
