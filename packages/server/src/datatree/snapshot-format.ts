import { type ACL, decodeFrame, encodeFrame, MarshallingError, pathProblem } from '@conclave/core';
import type { AclEntry } from './acl-cache.js';
import type { Database, SessionInfo } from './database.js';
import { bytesOf, type StoredData, storeBytes, Znode } from './znode.js';

/**
 * Snapshot chunks. Each chunk is one CBOR frame (core encodeFrame), so the storage layer can CRC
 * and write them one at a time and nothing ever builds one giant buffer:
 *
 *   { kind: 'conclave-snapshot', format: 1, lastZxid, nodeCount, sessionCount, acls: [[[perms, scheme, id], ...], ...] }
 *   { sessions: [id, timeoutMs, password, ...] }                                 (≤ 10 000 per chunk)
 *   { nodes: [path, data, aclIndex, czxid, mzxid, pzxid, ctime, mtime,
 *             version, cversion, aversion, ephemeralOwner, ...] }               (≤ 1000 nodes / ~1 MiB)
 *   { end: true, nodeCount, sessionCount, digest }
 *
 * Nodes come parents first (the tree's map is in creation order), so restore can link each node
 * to its already-loaded parent. numChildren and dataLength are derived, not stored. The trailer's
 * digest is verified after the rebuild.
 */

export const SNAPSHOT_FORMAT = 1;
const NODE_FIELDS = 12;
const NODES_PER_CHUNK = 1000;
const BYTES_PER_CHUNK = 1024 * 1024;
const SESSIONS_PER_CHUNK = 10_000;
/** Decoding bounds for snapshot chunks: a chunk holds at most 1000 nodes' data, but one node may be large. */
const SNAPSHOT_DECODE_LIMITS = { maxBytes: 512 * 1024 * 1024, maxDepth: 8, maxElements: 1_000_000 };

/** Captures the image synchronously, then encodes chunk by chunk (see Database.serialize). */
export function serializeDatabase(db: Database): Iterable<Uint8Array> {
  const tree = db.tree;
  const lastZxid = db.lastZxid;
  const digest = db.digest();
  const aclIndex = new Map<AclEntry, number>();
  const acls: unknown[] = [];
  // One flat array for the whole image: far fewer objects than a tuple per node.
  const image: unknown[] = new Array(tree.nodeCount * NODE_FIELDS);
  let i = 0;
  for (const [path, n] of tree.entries()) {
    let ai = aclIndex.get(n.acl);
    if (ai === undefined) {
      ai = acls.length;
      aclIndex.set(n.acl, ai);
      acls.push(n.acl.acl.map((a) => [a.perms, a.id.scheme, a.id.id]));
    }
    image[i++] = path;
    image[i++] = n.stored;
    image[i++] = ai;
    image[i++] = n.czxid;
    image[i++] = n.mzxid;
    image[i++] = n.pzxid;
    image[i++] = n.ctime;
    image[i++] = n.mtime;
    image[i++] = n.version;
    image[i++] = n.cversion;
    image[i++] = n.aversion;
    image[i++] = n.ephemeralOwner;
  }
  const sessions: unknown[] = [];
  for (const [id, s] of db.sessions) sessions.push(id, s.timeoutMs, s.password);
  const nodeCount = tree.nodeCount;
  const sessionCount = db.sessions.size;

  return {
    *[Symbol.iterator]() {
      yield encodeFrame({
        kind: 'conclave-snapshot',
        format: SNAPSHOT_FORMAT,
        lastZxid,
        nodeCount,
        sessionCount,
        acls,
      });
      for (let s = 0; s < sessions.length; s += SESSIONS_PER_CHUNK * 3) {
        yield encodeFrame({ sessions: sessions.slice(s, s + SESSIONS_PER_CHUNK * 3) });
      }
      let start = 0;
      while (start < image.length) {
        let end = start;
        let bytes = 0;
        while (end < image.length && end - start < NODES_PER_CHUNK * NODE_FIELDS && bytes < BYTES_PER_CHUNK) {
          bytes += (image[end + 1] as StoredData).length + (image[end] as string).length;
          end += NODE_FIELDS;
        }
        const nodes = image.slice(start, end);
        // Small values are held as latin1 strings; the snapshot stores bytes either way.
        for (let k = 1; k < nodes.length; k += NODE_FIELDS) nodes[k] = bytesOf(nodes[k] as StoredData);
        yield encodeFrame({ nodes });
        start = end;
      }
      yield encodeFrame({ end: true, nodeCount, sessionCount, digest });
    },
  };
}

function bad(what: string): never {
  throw new MarshallingError(`corrupt snapshot: ${what}`);
}

/** Rebuilds `db` (a fresh Database) from snapshot chunks. */
export async function restoreDatabase(
  chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  db: Database,
): Promise<Database> {
  let header: { lastZxid: bigint; nodeCount: number; sessionCount: number; acls: AclEntry[] } | undefined;
  let ended = false;
  let loadedNodes = 0;
  const tree = db.tree;
  for await (const chunk of chunks as AsyncIterable<Uint8Array>) {
    if (ended) bad('data after the trailer');
    const msg = decodeFrame(chunk, SNAPSHOT_DECODE_LIMITS) as Record<string, unknown>;
    if (msg === null || typeof msg !== 'object') bad('a chunk is not a map');
    if (header === undefined) {
      if (msg.kind !== 'conclave-snapshot') bad('missing header');
      if (msg.format !== SNAPSHOT_FORMAT) bad(`unsupported format ${String(msg.format)}`);
      if (typeof msg.lastZxid !== 'bigint') bad('header lastZxid');
      if (!Array.isArray(msg.acls)) bad('header acls');
      const acls = (msg.acls as unknown[]).map((list) => {
        if (!Array.isArray(list)) bad('acl list');
        const acl: ACL[] = list.map((e) => {
          if (
            !Array.isArray(e) ||
            typeof e[0] !== 'number' ||
            typeof e[1] !== 'string' ||
            typeof e[2] !== 'string'
          ) {
            bad('acl entry');
          }
          return { perms: e[0], id: { scheme: e[1], id: e[2] } };
        });
        return tree.acquireAcl(acl);
      });
      header = {
        lastZxid: msg.lastZxid as bigint,
        nodeCount: Number(msg.nodeCount),
        sessionCount: Number(msg.sessionCount),
        acls,
      };
      continue;
    }
    if (Array.isArray(msg.sessions)) {
      const s = msg.sessions as unknown[];
      if (s.length % 3 !== 0) bad('session chunk length');
      for (let i = 0; i < s.length; i += 3) {
        const id = s[i];
        const timeoutMs = s[i + 1];
        const password = s[i + 2];
        if (typeof id !== 'bigint' || typeof timeoutMs !== 'number' || !(password instanceof Uint8Array)) {
          bad('session entry');
        }
        if (db.sessions.has(id)) bad(`session 0x${id.toString(16)} twice`);
        db.addSession(id, { timeoutMs, password: new Uint8Array(password) } satisfies SessionInfo);
      }
    } else if (Array.isArray(msg.nodes)) {
      const f = msg.nodes as unknown[];
      if (f.length % NODE_FIELDS !== 0) bad('node chunk length');
      for (let i = 0; i < f.length; i += NODE_FIELDS) {
        const path = f[i];
        const data = f[i + 1];
        const acl = header.acls[f[i + 2] as number];
        if (typeof path !== 'string' || !(data instanceof Uint8Array) || acl === undefined) bad('node entry');
        if (
          typeof f[i + 3] !== 'bigint' ||
          typeof f[i + 4] !== 'bigint' ||
          typeof f[i + 5] !== 'bigint' ||
          typeof f[i + 11] !== 'bigint' ||
          typeof f[i + 6] !== 'number' ||
          typeof f[i + 7] !== 'number' ||
          !Number.isInteger(f[i + 8]) ||
          !Number.isInteger(f[i + 9]) ||
          !Number.isInteger(f[i + 10])
        ) {
          bad(`node ${path}: stat fields`);
        }
        if (path !== '/' && pathProblem(path) !== undefined) bad(`bad path ${JSON.stringify(path)}`);
        // Decoding gives every bigint its own object; share them again as apply does (one per
        // zxid, 0n everywhere), which saves ~50 bytes per node.
        const czxid = f[i + 3] as bigint;
        const mzxid = f[i + 4] === czxid ? czxid : (f[i + 4] as bigint);
        const pzxid = f[i + 5] === czxid ? czxid : f[i + 5] === mzxid ? mzxid : (f[i + 5] as bigint);
        const owner = f[i + 11] === 0n ? 0n : (f[i + 11] as bigint);
        const node = new Znode(
          path,
          storeBytes(data),
          acl,
          czxid,
          mzxid,
          pzxid,
          f[i + 6] as number,
          f[i + 7] as number,
          f[i + 8] as number,
          f[i + 9] as number,
          f[i + 10] as number,
          owner,
        );
        acl.refs++;
        try {
          tree.loadNode(path, node);
        } catch (err) {
          bad((err as Error).message);
        }
        loadedNodes++;
      }
    } else if (msg.end === true) {
      ended = true;
      if (loadedNodes !== header.nodeCount || msg.nodeCount !== header.nodeCount) {
        bad(`expected ${header.nodeCount} nodes, found ${loadedNodes}`);
      }
      if (db.sessions.size !== header.sessionCount) bad(`expected ${header.sessionCount} sessions`);
      if (db.digest() !== msg.digest)
        bad(`digest ${db.digest()} differs from the recorded ${String(msg.digest)}`);
    } else {
      bad('unknown chunk');
    }
  }
  if (header === undefined) bad('empty snapshot');
  if (!ended) bad('truncated (no trailer)');
  // The header took one reference per distinct ACL to keep it alive while nodes loaded; drop it.
  for (const entry of header.acls) tree.acls.release(entry);
  db.setLastZxid(header.lastZxid);
  return db;
}
