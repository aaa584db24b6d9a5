/**
 * Arithmetic coder with a 32-bit state (low and high in [0, 2^32)), bit
 * output and "pending" bits for the straddling case (Witten, Neal & Cleary
 * 1987), over integer frequency tables whose total is T = 2^P.
 *
 * Everything is integer arithmetic on doubles that stays below 2^53, so the
 * encoder and the decoder compute the same boundaries on any machine. The
 * one product that could exceed 2^53, r·c with r ≤ 2^32 and c ≤ 2^24, is
 * split in 16-bit halves (`scaleDown`), and T is a power of two so that no
 * division rounds. The decoder finds a symbol by binary search with the very
 * boundary function the encoder used, never by an inverse division that
 * could round differently.
 *
 * Length bound (proved in the comments below, checked by the tests): a
 * sequence whose symbols have frequencies f_t is coded in at most
 *   Σ_t −log2(f_t / T) + Σ_t −log2(1 − T / (2^30 · f_t)) + 2  bits,
 * and the code words are prefix-free (`finish`).
 */
import { type BitReader, BitWriter } from "./bits.ts"

const TOP = 2 ** 32
const HALF = 2 ** 31
const QUARTER = 2 ** 30
const THREE_QUARTERS = 3 * QUARTER
/** After renormalization high − low + 1 > 2^30: the smallest interval a symbol is coded in. */
export const MIN_RANGE_LOG2 = 30
export const MIN_FREQ_BITS = 16
/** T ≤ 2^24 keeps every symbol's sub-interval ≥ 2^6 wide, so the truncation loss stays ≤ −log2(1 − 2^−6) per symbol. */
export const MAX_FREQ_BITS = 24

/**
 * ⌊r·c / 2^P⌋ exactly, for r ≤ 2^32, c ≤ 2^P and 16 ≤ P ≤ 24.
 * With r = rh·2^16 + rl: r·c/2^P = rh·c/2^(P−16) + rl·c/2^P; the first term's
 * integer part is split off so that what remains is below 2^41.
 */
export const scaleDown = (r: number, c: number, P: number): number => {
  const rh = Math.floor(r / 65536)
  const rl = r - rh * 65536
  const a = rh * c
  const b = rl * c
  const s = 2 ** (P - 16)
  const aHigh = Math.floor(a / s)
  return aHigh + Math.floor(((a - aHigh * s) * 65536 + b) / 2 ** P)
}

/**
 * Per-symbol bound on the coder's truncation loss, bits: the sub-interval is
 * at least r·f/T − 1 wide with r > 2^30, i.e. a fraction ≥ (f/T)(1 − T/(2^30·f)).
 */
export const truncationBound = (freq: number, P: number): number => -Math.log2(1 - 2 ** (P - MIN_RANGE_LOG2) / freq)

export class ArithmeticEncoder {
  private readonly P: number
  private low = 0
  private high = TOP - 1
  private pending = 0
  private readonly out = new BitWriter()

  constructor(P: number) {
    this.P = P
  }

  /** Codes the symbol occupying [cumLow, cumLow + freq) of [0, 2^P); freq ≥ 1. */
  encode(cumLow: number, freq: number): void {
    const r = this.high - this.low + 1
    this.high = this.low + scaleDown(r, cumLow + freq, this.P) - 1
    this.low = this.low + scaleDown(r, cumLow, this.P)
    this.renormalize()
  }

  private emit(bit: number): void {
    this.out.write(bit)
    this.out.repeat(1 - bit, this.pending)
    this.pending = 0
  }

  // Each iteration doubles the interval and accounts for exactly one output
  // bit (now or pending), so after n iterations the real interval is
  // (high − low + 1)·2^−(32+n) wide: n ≤ −log2(product of the symbol fractions).
  private renormalize(): void {
    for (;;) {
      if (this.high < HALF) {
        this.emit(0)
      } else if (this.low >= HALF) {
        this.emit(1)
        this.low -= HALF
        this.high -= HALF
      } else if (this.low >= QUARTER && this.high < THREE_QUARTERS) {
        this.pending++
        this.low -= QUARTER
        this.high -= QUARTER
      } else {
        return
      }
      this.low = 2 * this.low
      this.high = 2 * this.high + 1
    }
  }

  /**
   * Ends the code word with two more bits (plus pending ones): 01 when
   * low < 1/4, else 10 (then high ≥ 3/4). In the interval's coordinates the
   * code word then stands for [1/4, 1/2) or [1/2, 3/4), both inside
   * [low, high], so the code words of different sequences are disjoint
   * dyadic intervals: a prefix-free code, needing no length to be told apart
   * (Kraft: Σ 2^−C(x) ≤ 1). Dropping trailing zeros would save ~1 bit but
   * lose that property, letting C(x) fall below −log2 p(x).
   */
  finish(): { readonly bytes: Uint8Array; readonly bitLength: number } {
    this.pending++
    this.emit(this.low < QUARTER ? 0 : 1)
    return { bytes: this.out.toBytes(), bitLength: this.out.length }
  }
}

export class ArithmeticDecoder {
  private readonly P: number
  private readonly input: BitReader
  private low = 0
  private high = TOP - 1
  private value = 0

  constructor(P: number, input: BitReader) {
    this.P = P
    this.input = input
    for (let i = 0; i < 32; i++) this.value = 2 * this.value + input.read()
  }

  /**
   * The symbol s whose interval holds the current value: the largest s with
   * low + scaleDown(r, cum[s]) ≤ value, where cum has V + 1 entries
   * (cum[0] = 0, cum[V] = 2^P) and every frequency is ≥ 1.
   */
  decode(cum: Int32Array | Uint32Array | Float64Array): number {
    const r = this.high - this.low + 1
    const offset = this.value - this.low
    let lo = 0
    let hi = cum.length - 2
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1
      if (scaleDown(r, cum[mid], this.P) <= offset) lo = mid
      else hi = mid - 1
    }
    this.high = this.low + scaleDown(r, cum[lo + 1], this.P) - 1
    this.low = this.low + scaleDown(r, cum[lo], this.P)
    for (;;) {
      if (this.high < HALF) {
        // nothing to subtract
      } else if (this.low >= HALF) {
        this.low -= HALF
        this.high -= HALF
        this.value -= HALF
      } else if (this.low >= QUARTER && this.high < THREE_QUARTERS) {
        this.low -= QUARTER
        this.high -= QUARTER
        this.value -= QUARTER
      } else {
        break
      }
      this.low = 2 * this.low
      this.high = 2 * this.high + 1
      this.value = 2 * this.value + this.input.read()
    }
    return lo
  }
}
