import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { PathTrie } from '../../src/datatree/path-trie.js';

function ancestors(t: PathTrie, path: string): string[] {
  const out: string[] = [];
  t.forEachAncestor(path, (p) => out.push(p));
  return out;
}

describe('PathTrie', () => {
  test('lists strict ancestors in the set, root first; counts references', () => {
    const t = new PathTrie();
    t.add('/');
    t.add('/a/b');
    t.add('/a/b');
    t.add('/a/bc');
    expect(ancestors(t, '/a/b/c/d')).toEqual(['/', '/a/b']);
    expect(ancestors(t, '/a/b')).toEqual(['/']);
    expect(ancestors(t, '/a/bc/x')).toEqual(['/', '/a/bc']);
    expect(ancestors(t, '/')).toEqual([]);
    t.remove('/a/b');
    expect(ancestors(t, '/a/b/c')).toEqual(['/', '/a/b']);
    t.remove('/a/b');
    t.remove('/');
    expect(ancestors(t, '/a/b/c')).toEqual([]);
    expect(() => t.remove('/a/b')).toThrow(/invariant/);
  });

  test('agrees with a naive walk over a set of paths', () => {
    const seg = fc.constantFrom('a', 'b', 'ab');
    const path = fc.array(seg, { minLength: 0, maxLength: 5 }).map((s) => `/${s.join('/')}`);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), path), { maxLength: 40 }),
        fc.array(path, { maxLength: 10 }),
        (ops, probes) => {
          const t = new PathTrie();
          const counts = new Map<string, number>();
          for (const [add, p] of ops) {
            const n = counts.get(p) ?? 0;
            if (add) {
              t.add(p);
              counts.set(p, n + 1);
            } else if (n > 0) {
              t.remove(p);
              counts.set(p, n - 1);
            }
          }
          for (const probe of probes) {
            const expected = [...counts]
              .filter(([p, n]) => n > 0 && p !== probe && (p === '/' || probe.startsWith(`${p}/`)))
              .map(([p]) => p)
              .sort((x, y) => x.length - y.length);
            expect(ancestors(t, probe)).toEqual(expected);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
