import { describe, expect, it } from 'vitest';
import {
  CONTAINER_EPHEMERAL_OWNER,
  CreateMode,
  createModeName,
  ephemeralKind,
  isEphemeral,
  isSequential,
  isTtl,
  MAX_TTL_MS,
  makeZxid,
  ttlEphemeralOwner,
  zxidCounter,
  zxidEpoch,
} from '../src/index.js';

describe('create modes and ephemeralOwner encoding', () => {
  it('classifies modes', () => {
    expect(isSequential(CreateMode.EPHEMERAL_SEQUENTIAL)).toBe(true);
    expect(isSequential(CreateMode.EPHEMERAL)).toBe(false);
    expect(isEphemeral(CreateMode.EPHEMERAL_SEQUENTIAL)).toBe(true);
    expect(isTtl(CreateMode.PERSISTENT_SEQUENTIAL_WITH_TTL)).toBe(true);
    expect(createModeName(4)).toBe('CONTAINER');
    expect(createModeName(9)).toBeUndefined();
  });

  it('decodes what it encodes', () => {
    expect(ephemeralKind(0n)).toEqual({ kind: 'persistent' });
    expect(ephemeralKind(0x0100000000000007n)).toEqual({ kind: 'ephemeral', sessionId: 0x0100000000000007n });
    expect(ephemeralKind(CONTAINER_EPHEMERAL_OWNER)).toEqual({ kind: 'container' });
    expect(ephemeralKind(ttlEphemeralOwner(5000))).toEqual({ kind: 'ttl', ttlMs: 5000 });
    expect(ephemeralKind(ttlEphemeralOwner(MAX_TTL_MS))).toEqual({ kind: 'ttl', ttlMs: MAX_TTL_MS });
  });

  it('splits zxids into epoch and counter', () => {
    const z = makeZxid(7, 0xfffffffe);
    expect(zxidEpoch(z)).toBe(7);
    expect(zxidCounter(z)).toBe(0xfffffffe);
  });
});
