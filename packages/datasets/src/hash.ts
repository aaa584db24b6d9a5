/**
 * A fast 64-bit hash of a token sequence: two MurmurHash3-style (x86_32)
 * passes over the 32-bit token words with different seeds. Not a security
 * hash; used to find equal sequences (equality is then confirmed on content
 * where the content is kept) and as the input of seeded priorities.
 */
const C1 = 0xcc9e2d51
const C2 = 0x1b873593

const murmur32 = (tokens: ArrayLike<number>, offset: number, length: number, seed: number): number => {
  let h = seed >>> 0
  for (let i = 0; i < length; i++) {
    let k = Math.imul(tokens[offset + i] >>> 0, C1)
    k = (k << 15) | (k >>> 17)
    k = Math.imul(k, C2)
    h ^= k
    h = (h << 13) | (h >>> 19)
    h = (Math.imul(h, 5) + 0xe6546b64) | 0
  }
  h ^= length * 4
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** The two 32-bit halves of the 64-bit hash of tokens[offset, offset+length). */
export const hashSequence = (tokens: ArrayLike<number>, offset: number, length: number): readonly [number, number] => [
  murmur32(tokens, offset, length, 0x9747b28c),
  murmur32(tokens, offset, length, 0x5bd1e995)
]
