/** ACL permission bits, ZooKeeper's numbers. */
export const Perms = {
  READ: 1,
  WRITE: 2,
  CREATE: 4,
  DELETE: 8,
  ADMIN: 16,
  ALL: 31,
} as const;

/** An identity: `scheme` is world, auth, digest or ip; `id` is scheme-specific. */
export interface Id {
  scheme: string;
  id: string;
}

/** One ACL entry: the permission bits granted to an identity. */
export interface ACL {
  perms: number;
  id: Id;
}

export const ANYONE_ID_UNSAFE: Id = Object.freeze({ scheme: 'world', id: 'anyone' });
/** Matches whatever identities the creating session has authenticated as. */
export const AUTH_IDS: Id = Object.freeze({ scheme: 'auth', id: '' });

/** Anyone may do anything: ZooKeeper's default, and as unsafe as its name says. */
export const OPEN_ACL_UNSAFE: readonly ACL[] = Object.freeze([{ perms: Perms.ALL, id: ANYONE_ID_UNSAFE }]);
/** Everything for the identities the creator authenticated as; needs prior addAuth. */
export const CREATOR_ALL_ACL: readonly ACL[] = Object.freeze([{ perms: Perms.ALL, id: AUTH_IDS }]);
/** Anyone may read. */
export const READ_ACL_UNSAFE: readonly ACL[] = Object.freeze([{ perms: Perms.READ, id: ANYONE_ID_UNSAFE }]);

/** Renders perms the way zkCli does: `cdrwa`. */
export function formatPerms(perms: number): string {
  return (
    (perms & Perms.CREATE ? 'c' : '') +
    (perms & Perms.DELETE ? 'd' : '') +
    (perms & Perms.READ ? 'r' : '') +
    (perms & Perms.WRITE ? 'w' : '') +
    (perms & Perms.ADMIN ? 'a' : '')
  );
}

/** Parses zkCli's `cdrwa` letters; undefined for any other letter. */
export function parsePerms(text: string): number | undefined {
  let perms = 0;
  for (const ch of text) {
    const bit = (
      { c: Perms.CREATE, d: Perms.DELETE, r: Perms.READ, w: Perms.WRITE, a: Perms.ADMIN } as const
    )[ch as 'c'];
    if (bit === undefined) return undefined;
    perms |= bit;
  }
  return perms;
}
