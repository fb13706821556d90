import { BadArgumentsError } from '@conclave/core';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PORT, formatMember, parseConnectString, shuffleMembers } from '../src/connect-string.js';

describe('parseConnectString', () => {
  it('parses one member', () => {
    expect(parseConnectString('127.0.0.1:2181')).toEqual({
      members: [{ host: '127.0.0.1', port: 2181 }],
      chroot: undefined,
    });
  });

  it('parses several members and a chroot', () => {
    expect(parseConnectString('a:1, b:2,c:3/app/x')).toEqual({
      members: [
        { host: 'a', port: 1 },
        { host: 'b', port: 2 },
        { host: 'c', port: 3 },
      ],
      chroot: '/app/x',
    });
  });

  it('defaults the port to 2181 and treats a "/" chroot as none', () => {
    expect(parseConnectString('zk1,zk2:2182/')).toEqual({
      members: [
        { host: 'zk1', port: DEFAULT_PORT },
        { host: 'zk2', port: 2182 },
      ],
      chroot: undefined,
    });
  });

  it('accepts bracketed IPv6 literals and formats them back', () => {
    const { members } = parseConnectString('[::1]:2181,[fe80::2]');
    expect(members).toEqual([
      { host: '::1', port: 2181 },
      { host: 'fe80::2', port: DEFAULT_PORT },
    ]);
    expect(formatMember(members[0]!)).toBe('[::1]:2181');
    expect(formatMember({ host: 'h', port: 1 })).toBe('h:1');
  });

  it.each([
    ['', 'no members'],
    ['/app', 'no members'],
    ['a:1,,b:2', 'empty member'],
    [':2181', 'empty host'],
    ['a:', 'invalid port'],
    ['a:x', 'invalid port'],
    ['a:0', 'out of range'],
    ['a:65536', 'out of range'],
    ['::1:2181', 'needs brackets'],
    ['[::1', 'unterminated'],
    ['[::1]x', 'after IPv6'],
    ['a:1/app/', 'invalid chroot'],
    ['a:1/app//x', 'invalid chroot'],
    ['a:1/app/..', 'invalid chroot'],
  ])('rejects %j (%s) with BadArgumentsError', (text, why) => {
    let err: unknown;
    try {
      parseConnectString(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BadArgumentsError);
    expect((err as Error).message).toContain(why);
  });
});

describe('shuffleMembers', () => {
  it('returns a permutation and does not touch its input', () => {
    const members = Array.from({ length: 7 }, (_, i) => ({ host: `h${i}`, port: 1000 + i }));
    const copy = members.slice();
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const out = shuffleMembers(members, random);
    expect(members).toEqual(copy);
    expect([...out].sort((a, b) => a.port - b.port)).toEqual(members);
  });

  it('puts every member first sometimes (random order)', () => {
    const members = [1, 2, 3].map((i) => ({ host: 'h', port: i }));
    const firsts = new Set<number>();
    for (let i = 0; i < 200 && firsts.size < 3; i++) firsts.add(shuffleMembers(members)[0]!.port);
    expect(firsts.size).toBe(3);
  });
});
