import { BadArgumentsError } from './errors.js';

/**
 * Znode paths: absolute, `/`-separated, no trailing `/` (except the root), no empty, `.` or `..`
 * segment, no NUL or control characters. These are ZooKeeper's rules; breaking one throws a
 * BadArgumentsError that names the path and the rule.
 */

/** The reserved subtree Conclave keeps its own metadata in (config, quotas). */
export const RESERVED_ROOT = '/conclave';

/** Why `path` is not a valid znode path, or undefined when it is. */
export function pathProblem(path: unknown): string | undefined {
  if (typeof path !== 'string') return 'a path must be a string';
  if (path.length === 0) return 'a path must not be empty';
  if (path.charCodeAt(0) !== 47 /* / */) return "a path must start with '/'";
  if (path.length === 1) return undefined;
  if (path.charCodeAt(path.length - 1) === 47) return "a path must not end with '/'";
  let segmentStart = 1;
  for (let i = 1; i <= path.length; i++) {
    const c = i < path.length ? path.charCodeAt(i) : 47;
    if (c === 47) {
      const len = i - segmentStart;
      if (len === 0) return 'a path must not contain an empty segment (//)';
      if (len === 1 && path.charCodeAt(segmentStart) === 46) return "a path must not contain a '.' segment";
      if (len === 2 && path.charCodeAt(segmentStart) === 46 && path.charCodeAt(segmentStart + 1) === 46) {
        return "a path must not contain a '..' segment";
      }
      segmentStart = i + 1;
    } else if (c === 0) {
      return 'a path must not contain the NUL character';
    } else if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) {
      return `a path must not contain control characters (found U+${c.toString(16).padStart(4, '0')})`;
    } else if ((c >= 0xd800 && c <= 0xf8ff) || (c >= 0xfff0 && c <= 0xffff)) {
      return `a path must not contain surrogate, private-use or special characters (found U+${c.toString(16).padStart(4, '0')})`;
    }
  }
  return undefined;
}

/** Throws BadArgumentsError unless `path` is a valid znode path; returns it for chaining. */
export function validatePath(path: string): string {
  const problem = pathProblem(path);
  if (problem !== undefined)
    throw new BadArgumentsError(`invalid path ${JSON.stringify(path)}: ${problem}`, path);
  return path;
}

/**
 * Validates a path given to a sequential create: ZooKeeper allows it to end in '/' because the
 * server appends the sequence number (`/queue/` becomes `/queue/0000000003`).
 */
export function validateSequentialPath(path: string): string {
  const problem = pathProblem(path.endsWith('/') && path.length > 1 ? `${path}0` : path);
  if (problem !== undefined)
    throw new BadArgumentsError(`invalid path ${JSON.stringify(path)}: ${problem}`, path);
  return path;
}

/** Joins a parent path and one or more child names: join('/a', 'b') is '/a/b'. */
export function joinPath(parent: string, ...names: string[]): string {
  let out = parent;
  for (const name of names) {
    if (name.length === 0) continue;
    const trimmed = name.startsWith('/') ? name.slice(1) : name;
    out = out === '/' ? `/${trimmed}` : `${out}/${trimmed}`;
  }
  return out;
}

/** The parent of a path; the root is its own parent. */
export function parentPath(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/** The last segment of a path ('' for the root). */
export function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** Every ancestor of a path, nearest first, ending with '/'. The path itself is not included. */
export function ancestors(path: string): string[] {
  const out: string[] = [];
  let p = path;
  while (p !== '/') {
    p = parentPath(p);
    out.push(p);
  }
  return out;
}

/** The sequential suffix ZooKeeper appends: the parent's cversion as ten zero-padded digits. */
export function sequenceSuffix(counter: number): string {
  // ZooKeeper formats a signed 32-bit int with %010d; a negative counter after overflow keeps its sign.
  return counter < 0 ? `-${String(-counter).padStart(9, '0')}` : String(counter).padStart(10, '0');
}

/**
 * Maps paths between a client's chroot and the server's namespace. A connect string
 * `host:port/app` gives the chroot '/app': the client's '/x' is the server's '/app/x'.
 */
export class Chroot {
  readonly root: string;

  constructor(root: string) {
    validatePath(root);
    this.root = root === '/' ? '' : root;
  }

  /** Client path → server path. */
  toServer(path: string): string {
    if (this.root === '') return path;
    return path === '/' ? this.root : this.root + path;
  }

  /** Server path → client path (throws BadArgumentsError for a path outside the chroot). */
  toClient(path: string): string {
    if (this.root === '') return path;
    if (path === this.root) return '/';
    if (!path.startsWith(`${this.root}/`)) {
      throw new BadArgumentsError(`path ${path} is outside the chroot ${this.root}`, path);
    }
    return path.slice(this.root.length);
  }
}
