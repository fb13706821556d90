/**
 * CRC-32C (Castagnoli), the checksum of every log record, snapshot and epoch file.
 *
 * Castagnoli rather than zlib's CRC-32 because it has better error detection for the record sizes
 * we write and is what etcd, ext4 and iSCSI use; Node 20 has no built-in, so this is a table-driven
 * slicing-by-8 implementation (about 8 bytes per step, fast enough that a snapshot's CRC is not the
 * bottleneck of writing it).
 */

const POLY = 0x82f63b78; // reflected Castagnoli polynomial

const TABLES: Uint32Array[] = (() => {
  const tables: Uint32Array[] = [];
  const t0 = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t0[n] = c >>> 0;
  }
  tables.push(t0);
  for (let t = 1; t < 8; t++) {
    const prev = tables[t - 1]!;
    const table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      const p = prev[n]!;
      table[n] = ((p >>> 8) ^ t0[p & 0xff]!) >>> 0;
    }
    tables.push(table);
  }
  return tables;
})();

/**
 * Extends a running CRC-32C with `bytes[start, end)`. Start a new checksum with `crc = 0`;
 * `crc32c(b, crc32c(a))` equals the CRC of `a` followed by `b`.
 */
export function crc32c(bytes: Uint8Array, crc = 0, start = 0, end = bytes.length): number {
  const [t0, t1, t2, t3, t4, t5, t6, t7] = TABLES as [
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
    Uint32Array,
  ];
  let c = ~crc >>> 0;
  let i = start;
  const fast = end - ((end - start) & 7);
  while (i < fast) {
    const lo = (c ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24))) >>> 0;
    const hi = bytes[i + 4]! | (bytes[i + 5]! << 8) | (bytes[i + 6]! << 16) | (bytes[i + 7]! << 24);
    c =
      t7[lo & 0xff]! ^
      t6[(lo >>> 8) & 0xff]! ^
      t5[(lo >>> 16) & 0xff]! ^
      t4[lo >>> 24]! ^
      t3[hi & 0xff]! ^
      t2[(hi >>> 8) & 0xff]! ^
      t1[(hi >>> 16) & 0xff]! ^
      t0[hi >>> 24]!;
    i += 8;
  }
  while (i < end) c = t0[(c ^ (bytes[i++] as number)) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
