import { describe, expect, it } from 'vitest';
import { connectStringOf, parseEnsembleConfig } from '../../src/ensemble/config.js';

const member = (id: number, extra: Record<string, unknown> = {}) => ({
  id,
  host: '127.0.0.1',
  clientPort: 2180 + id,
  quorumPort: 2880 + id,
  role: 'voter',
  ...extra,
});

describe('ensemble config', () => {
  it('accepts a valid file and defaults host and role', () => {
    const c = parseEnsembleConfig({
      tickMs: 500,
      members: [
        member(1),
        member(2),
        { id: 3, clientPort: 2183, quorumPort: 2883 },
        member(4, { role: 'observer' }),
      ],
    });
    expect(c.tickMs).toBe(500);
    expect(c.members[2]).toEqual({
      id: 3,
      host: '127.0.0.1',
      clientPort: 2183,
      quorumPort: 2883,
      role: 'voter',
    });
    expect(c.members[3]!.role).toBe('observer');
    expect(connectStringOf(c)).toBe('127.0.0.1:2181,127.0.0.1:2182,127.0.0.1:2183,127.0.0.1:2184');
  });

  it.each([
    [null, /object/],
    [{ members: [] }, /non-empty/],
    [{ members: [member(0)] }, /1\.\.254/],
    // 255 passed validation once, then the member threw at its first session id.
    [{ members: [member(255)] }, /1\.\.254 \(the high byte of its session ids\)/],
    [{ members: [member(1), member(1, { clientPort: 3000, quorumPort: 3001 })] }, /listed twice/],
    [{ members: [member(1, { role: 'boss' })] }, /voter/],
    [{ members: [member(1, { clientPort: 70000 })] }, /port/],
    [{ members: [member(1), member(2, { clientPort: 2181 })] }, /used twice/],
    [{ members: [member(1, { role: 'observer' })] }, /at least one member must be a voter/],
    [{ members: [member(1)], tickMs: 0 }, /tickMs/],
  ])('rejects %j with a BADARGUMENTS error that says what to fix', (value, why) => {
    expect(() => parseEnsembleConfig(value)).toThrow(why);
    try {
      parseEnsembleConfig(value);
    } catch (err) {
      expect((err as { code: string }).code).toBe('BADARGUMENTS');
    }
  });
});
