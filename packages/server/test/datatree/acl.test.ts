import { type ACL, Perms } from '@conclave/core';
import { describe, expect, test } from 'vitest';
import {
  authenticate,
  checkPerms,
  digestId,
  ipMatches,
  parseIp,
  SUPER_ID,
} from '../../src/datatree/index.js';

const world = (perms: number): ACL => ({ perms, id: { scheme: 'world', id: 'anyone' } });
const ip = (perms: number, id: string): ACL => ({ perms, id: { scheme: 'ip', id } });

describe('digest ids', () => {
  test("reproduce ZooKeeper's known example: super:test", () => {
    expect(digestId('super', 'test')).toBe('super:D/InIHSb7yEEbrWz8b9l71RjZJU=');
  });

  test('authenticate(digest) yields the digest id, plus super when it matches superDigest', () => {
    const sup = digestId('super', 'test');
    expect(authenticate('digest', 'alice:pw')).toEqual([{ scheme: 'digest', id: digestId('alice', 'pw') }]);
    expect(authenticate('digest', new TextEncoder().encode('super:test'), sup)).toEqual([
      { scheme: 'digest', id: sup },
      SUPER_ID,
    ]);
    // Passwords may contain ':' — only the first separates the user.
    expect(authenticate('digest', 'bob:a:b')[0]!.id).toBe(digestId('bob', 'a:b'));
    expect(() => authenticate('digest', 'nocolon')).toThrow(expect.objectContaining({ code: 'AUTHFAILED' }));
    expect(() => authenticate('kerberos', 'x')).toThrow(expect.objectContaining({ code: 'AUTHFAILED' }));
  });
});

describe('checkPerms', () => {
  const alice = { scheme: 'digest', id: digestId('alice', 'pw') };

  test('world:anyone, digest, and the permission bits', () => {
    expect(checkPerms([world(Perms.READ)], Perms.READ, [])).toBe(true);
    expect(checkPerms([world(Perms.READ)], Perms.WRITE, [])).toBe(false);
    const acl: ACL[] = [{ perms: Perms.ALL, id: alice }];
    expect(checkPerms(acl, Perms.DELETE, [alice])).toBe(true);
    expect(checkPerms(acl, Perms.DELETE, [{ scheme: 'digest', id: digestId('alice', 'other') }])).toBe(false);
    expect(checkPerms(acl, Perms.DELETE, [])).toBe(false);
  });

  test('an empty ACL allows everything; super bypasses everything', () => {
    expect(checkPerms([], Perms.ADMIN, [])).toBe(true);
    expect(checkPerms([{ perms: Perms.READ, id: alice }], Perms.ADMIN, [SUPER_ID])).toBe(true);
  });

  test('ip: exact and CIDR, IPv4 and IPv6, IPv4-mapped clients', () => {
    expect(checkPerms([ip(Perms.READ, '10.1.2.3')], Perms.READ, [], '10.1.2.3')).toBe(true);
    expect(checkPerms([ip(Perms.READ, '10.1.2.3')], Perms.READ, [], '10.1.2.4')).toBe(false);
    expect(checkPerms([ip(Perms.READ, '10.1.0.0/16')], Perms.READ, [], '10.1.200.9')).toBe(true);
    expect(checkPerms([ip(Perms.READ, '10.1.0.0/16')], Perms.READ, [], '10.2.0.1')).toBe(false);
    expect(checkPerms([ip(Perms.READ, '127.0.0.1')], Perms.READ, [], '::ffff:127.0.0.1')).toBe(true);
    expect(checkPerms([ip(Perms.READ, '10.0.0.0/8')], Perms.READ, [{ scheme: 'ip', id: '10.9.9.9' }])).toBe(
      true,
    );
    expect(ipMatches('2001:db8::1', '2001:db8::/32')).toBe(true);
    expect(ipMatches('2001:db9::1', '2001:db8::/32')).toBe(false);
    expect(ipMatches('::1', '::1')).toBe(true);
    expect(ipMatches('fe80::1:2', 'fe80::/10')).toBe(true);
    expect(ipMatches('10.0.0.1', '10.0.0.0/33')).toBe(false);
    expect(ipMatches('10.0.0.1', '0.0.0.0/0')).toBe(true);
    expect(ipMatches('10.0.0.1', 'fe80::/10')).toBe(false);
  });

  test('parseIp handles compressed and embedded-IPv4 IPv6 forms', () => {
    expect([...parseIp('::ffff:1.2.3.4')!]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 1, 2, 3, 4]);
    expect([...parseIp('1::')!].slice(0, 2)).toEqual([0, 1]);
    expect(parseIp('1.2.3')).toBeUndefined();
    expect(parseIp('nonsense')).toBeUndefined();
  });
});
