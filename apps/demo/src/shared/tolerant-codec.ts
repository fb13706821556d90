import type { Codec } from '@conclave/recipes';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * JSON, except that bytes which are not JSON decode to their text instead of throwing. Anyone can
 * write anything into the config znode (the znode browser, `conclave cli`); with the plain JSON
 * codec one bad write would error every worker's `value$` for good. Here it is just a value the
 * workers do not understand (they keep their defaults, see sanitize-config.ts), until someone
 * writes JSON again.
 */
export const tolerantJson: Codec<unknown> = {
  encode: (value) => encoder.encode(JSON.stringify(value)),
  decode: (bytes) => {
    const text = decoder.decode(bytes);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return text;
    }
  },
};
