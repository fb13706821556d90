interface TrieNode {
  /** How many times this exact path was added (and not yet removed). */
  count: number;
  children: Map<string, TrieNode> | null;
}

/**
 * A counted set of znode paths that answers "which of these are strict ancestors of `path`?" in
 * time linear in the length of `path`. The WatchManager keeps its persistent-recursive watch
 * paths here: looking each ancestor up in a Map instead costs a fresh prefix string and its hash
 * per level, O(length²) per event, which a client holding a recursive watch could turn into a
 * CPU sink with 4 KiB, 2048-level paths.
 */
export class PathTrie {
  private readonly root: TrieNode = { count: 0, children: null };

  /** Adds one reference to `path` (a valid absolute path). */
  add(path: string): void {
    let node = this.root;
    this.walk(path, (segment) => {
      if (node.children === null) node.children = new Map();
      let next = node.children.get(segment);
      if (next === undefined) {
        next = { count: 0, children: null };
        node.children.set(segment, next);
      }
      node = next;
      return true;
    });
    node.count++;
  }

  /** Drops one reference to `path`; prunes nodes nothing needs any more. */
  remove(path: string): void {
    const trail: [TrieNode, string][] = [];
    let node: TrieNode | undefined = this.root;
    this.walk(path, (segment) => {
      const next: TrieNode | undefined = node?.children?.get(segment);
      if (next === undefined) {
        node = undefined;
        return false;
      }
      trail.push([node!, segment]);
      node = next;
      return true;
    });
    if (node === undefined || node.count === 0) throw new Error(`invariant: ${path} is not in the trie`);
    node.count--;
    for (let i = trail.length - 1; i >= 0 && node.count === 0 && node.children === null; i--) {
      const [parent, segment] = trail[i]!;
      parent.children!.delete(segment);
      if (parent.children!.size === 0) parent.children = null;
      node = parent;
    }
  }

  /** Calls `visit` with every path in the set that is a strict ancestor of `path`, root first. */
  forEachAncestor(path: string, visit: (ancestor: string) => void): void {
    if (path === '/') return;
    let node: TrieNode | undefined = this.root;
    if (node.count > 0) visit('/');
    // Strict ancestors only: stop before the last segment.
    const last = path.lastIndexOf('/');
    let start = 1;
    while (start < last) {
      const end = path.indexOf('/', start);
      node = node.children?.get(path.slice(start, end));
      if (node === undefined) return;
      if (node.count > 0) visit(path.slice(0, end));
      start = end + 1;
    }
  }

  private walk(path: string, step: (segment: string) => boolean): void {
    if (path === '/') return;
    let start = 1;
    while (start <= path.length) {
      let end = path.indexOf('/', start);
      if (end < 0) end = path.length;
      if (!step(path.slice(start, end))) return;
      start = end + 1;
    }
  }
}
