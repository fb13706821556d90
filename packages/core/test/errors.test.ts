import { describe, expect, it } from 'vitest';
import {
  BadVersionError,
  ConclaveError,
  ErrorCode,
  errorName,
  isConclaveError,
  NoNodeError,
  SessionExpiredError,
  SystemError,
} from '../src/index.js';

describe('errors', () => {
  it("keeps ZooKeeper's numbers", () => {
    expect(ErrorCode.NONODE).toBe(-101);
    expect(ErrorCode.NODEEXISTS).toBe(-110);
    expect(ErrorCode.SESSIONEXPIRED).toBe(-112);
    expect(ErrorCode.THROTTLEDOP).toBe(-127);
    expect(errorName(-103)).toBe('BADVERSION');
    expect(errorName(12345)).toBeUndefined();
  });

  it('maps every errno to its own class with code, errno, path and a readable message', () => {
    for (const [name, errno] of Object.entries(ErrorCode)) {
      if (errno === 0) continue;
      const err = ConclaveError.from(errno, '/p');
      expect(err).toBeInstanceOf(ConclaveError);
      expect(err.code).toBe(name);
      expect(err.errno).toBe(errno);
      expect(err.path).toBe('/p');
      expect(err.message).toContain(name);
      expect(err.message).toContain('/p');
      expect(err.name).not.toBe('ConclaveError');
    }
    const nonode = ConclaveError.from(-101, '/x');
    expect(nonode).toBeInstanceOf(NoNodeError);
    expect(nonode.name).toBe('NoNodeError');
    expect(ConclaveError.from(-103)).toBeInstanceOf(BadVersionError);
    expect(ConclaveError.from(-112)).toBeInstanceOf(SessionExpiredError);
  });

  it('turns unknown numbers (and OK) into a SystemError that says so', () => {
    const err = ConclaveError.from(-999);
    expect(err).toBeInstanceOf(SystemError);
    expect(err.message).toContain('-999');
    expect(ConclaveError.from(0)).toBeInstanceOf(SystemError);
  });

  it('narrows with isConclaveError', () => {
    const err: unknown = new NoNodeError(undefined, '/a');
    expect(isConclaveError(err)).toBe(true);
    expect(isConclaveError(err, 'NONODE')).toBe(true);
    expect(isConclaveError(err, 'NODEEXISTS')).toBe(false);
    expect(isConclaveError(new Error('x'))).toBe(false);
  });
});
