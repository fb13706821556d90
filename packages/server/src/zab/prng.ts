/**
 * The only source of randomness a {@link ZabNode} may use: injected, seeded, so a simulation run
 * replays exactly from its seed.
 */
export interface Prng {
  /** A uniformly distributed unsigned 32-bit integer. */
  nextUint32(): number;
}

/**
 * xoshiro128** seeded through splitmix32: fast, 128 bits of state, good enough statistics for
 * schedules and jitter. Not for cryptography.
 */
export class SeededPrng implements Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    const next = (): number => {
      s = (s + 0x9e3779b9) >>> 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    if ((this.a | this.b | this.c | this.d) === 0) this.a = 1;
  }

  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.b << 9) >>> 0;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** Uniform in [0, 1). */
  nextFloat(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, maxExclusive). */
  nextInt(maxExclusive: number): number {
    return Math.floor(this.nextFloat() * maxExclusive);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return p > 0 && this.nextFloat() < p;
  }

  /** A child generator, so independent streams (e.g. one per node) stay reproducible. */
  fork(): SeededPrng {
    return new SeededPrng(this.nextUint32());
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
