import { isIPv4, isIPv6 } from 'node:net';

/**
 * IP addresses for the `ip` ACL scheme: `10.0.0.1`, `10.0.0.0/8`, `fe80::1`, `2001:db8::/32`, as
 * ZooKeeper's IPAuthenticationProvider accepts them. An IPv4-mapped IPv6 client address
 * (`::ffff:10.0.0.1`, what Node reports on a dual-stack socket) matches IPv4 ACLs.
 */

/** Parses an address to its bytes (4 or 16), or undefined when it is not one. */
export function parseIp(text: string): Uint8Array | undefined {
  if (isIPv4(text)) return Uint8Array.from(text.split('.').map(Number));
  if (!isIPv6(text)) return undefined;
  let head = text;
  let v4Tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.indexOf('.', lastColon) >= 0) {
    const v4 = text.slice(lastColon + 1);
    v4Tail = v4.split('.').map(Number);
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = head.split('::');
  const words = (s: string): number[] => (s === '' ? [] : s.split(':').map((w) => Number.parseInt(w, 16)));
  const left = words(halves[0] ?? '');
  const right = halves.length > 1 ? words(halves[1] ?? '') : [];
  const fill = 8 - left.length - right.length;
  const all = [...left, ...new Array<number>(Math.max(0, fill)).fill(0), ...right];
  if (all.length !== 8) return undefined;
  const out = new Uint8Array(16);
  all.forEach((w, i) => {
    out[i * 2] = (w >> 8) & 0xff;
    out[i * 2 + 1] = w & 0xff;
  });
  if (v4Tail.length === 4) out.set(v4Tail, 12);
  return out;
}

/** Client addresses: an IPv4-mapped IPv6 address becomes plain IPv4. */
export function parseClientIp(text: string): Uint8Array | undefined {
  const bytes = parseIp(text);
  if (bytes === undefined || bytes.length === 4) return bytes;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return bytes;
  if (bytes[10] === 0xff && bytes[11] === 0xff) return bytes.subarray(12);
  return bytes;
}

/** Parses an ACL id `addr` or `addr/bits`; undefined when malformed. */
export function parseIpAcl(expr: string): { addr: Uint8Array; bits: number } | undefined {
  const slash = expr.indexOf('/');
  const addr = parseIp(slash < 0 ? expr : expr.slice(0, slash));
  if (addr === undefined) return undefined;
  if (slash < 0) return { addr, bits: addr.length * 8 };
  const bitsText = expr.slice(slash + 1);
  if (!/^\d{1,3}$/.test(bitsText)) return undefined;
  const bits = Number(bitsText);
  if (bits > addr.length * 8) return undefined;
  return { addr, bits };
}

/** True when the client address lies inside the ACL's address or network. */
export function ipMatches(clientIp: string, aclExpr: string): boolean {
  const acl = parseIpAcl(aclExpr);
  const client = parseClientIp(clientIp);
  if (acl === undefined || client === undefined || client.length !== acl.addr.length) return false;
  let bits = acl.bits;
  for (let i = 0; i < client.length && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((client[i]! & mask) !== (acl.addr[i]! & mask)) return false;
  }
  return true;
}
