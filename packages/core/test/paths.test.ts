import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ancestors,
  BadArgumentsError,
  basename,
  Chroot,
  joinPath,
  parentPath,
  pathProblem,
  sequenceSuffix,
  validatePath,
  validateSequentialPath,
} from '../src/index.js';

describe('paths', () => {
  it('accepts ZooKeeper-valid paths', () => {
    for (const p of ['/', '/a', '/a/b', '/a-b_c.d', '/zookeeper', '/日本', '/a/.b', '/a/..b', '/a b']) {
      expect(pathProblem(p)).toBeUndefined();
      expect(validatePath(p)).toBe(p);
    }
  });

  it.each([
    ['', /empty/],
    ['a', /start with/],
    ['/a/', /end with/],
    ['/a//b', /empty segment/],
    ['/a/./b', /'\.' segment/],
    ['/a/../b', /'\.\.' segment/],
    ['/..', /'\.\.' segment/],
    ['/a\u0000b', /NUL/],
    ['/a\u0001b', /control/],
    ['/a\u007fb', /control/],
    ['/a\ud800b', /surrogate/],
  ])('rejects %j with a BadArgumentsError naming the rule', (p, rule) => {
    expect(pathProblem(p)).toMatch(rule);
    try {
      validatePath(p);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(BadArgumentsError);
      expect((err as BadArgumentsError).code).toBe('BADARGUMENTS');
      expect((err as BadArgumentsError).errno).toBe(-8);
      expect((err as BadArgumentsError).path).toBe(p);
      expect((err as Error).message).toMatch(rule);
    }
  });

  it('rejects non-strings', () => {
    expect(pathProblem(42)).toMatch(/string/);
  });

  it('allows a trailing slash only for sequential creates', () => {
    expect(validateSequentialPath('/queue/')).toBe('/queue/');
    expect(validateSequentialPath('/queue/item-')).toBe('/queue/item-');
    expect(() => validateSequentialPath('/queue//')).toThrow(BadArgumentsError);
  });

  it('joins, splits and walks up', () => {
    expect(joinPath('/', 'a')).toBe('/a');
    expect(joinPath('/a', 'b', 'c')).toBe('/a/b/c');
    expect(joinPath('/a', '/b')).toBe('/a/b');
    expect(parentPath('/a/b')).toBe('/a');
    expect(parentPath('/a')).toBe('/');
    expect(parentPath('/')).toBe('/');
    expect(basename('/a/b')).toBe('b');
    expect(basename('/')).toBe('');
    expect(ancestors('/a/b/c')).toEqual(['/a/b', '/a', '/']);
    expect(ancestors('/')).toEqual([]);
  });

  it('parent and basename rebuild any valid path', () => {
    const segment = fc.stringMatching(/^[a-z0-9_-]{1,8}$/);
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 6 }), (segs) => {
        const p = `/${segs.join('/')}`;
        expect(pathProblem(p)).toBeUndefined();
        expect(joinPath(parentPath(p), basename(p))).toBe(p);
      }),
    );
  });

  it('formats sequence suffixes as %010d', () => {
    expect(sequenceSuffix(0)).toBe('0000000000');
    expect(sequenceSuffix(42)).toBe('0000000042');
    expect(sequenceSuffix(2147483647)).toBe('2147483647');
    expect(sequenceSuffix(-5)).toBe('-000000005');
  });

  it('maps paths through a chroot both ways', () => {
    const c = new Chroot('/app');
    expect(c.toServer('/')).toBe('/app');
    expect(c.toServer('/x/y')).toBe('/app/x/y');
    expect(c.toClient('/app')).toBe('/');
    expect(c.toClient('/app/x')).toBe('/x');
    expect(() => c.toClient('/application')).toThrow(BadArgumentsError);
    const none = new Chroot('/');
    expect(none.toServer('/x')).toBe('/x');
    expect(none.toClient('/x')).toBe('/x');
    expect(() => new Chroot('app')).toThrow(BadArgumentsError);
  });
});
