/**
 * Float64 oracle implementations of every GPU kernel, which the
 * kernel tests compare against. Plain loops, written for clarity, with the
 * same tensor layouts as the kernels (row-major, Hugging Face [in, out]
 * weights, qkv packed as [q | k | v] with heads contiguous inside each).
 */

export type Vec = Float64Array
export type Rounding = "none" | "bf16" | "fp16"

const f32 = new Float32Array(1)
const u32 = new Uint32Array(f32.buffer)

/** bfloat16 round-to-nearest-even of a float32 value. */
export const roundBf16 = (x: number): number => {
  f32[0] = x
  const u = u32[0]
  if ((u & 0x7f800000) === 0x7f800000) return f32[0]
  u32[0] = ((u + 0x7fff + ((u >>> 16) & 1)) & 0xffff0000) >>> 0
  return f32[0]
}

/** IEEE binary16 round-to-nearest-even (saturating at ±65504 like the kernel's clamp). */
export const roundF16 = (x: number): number => {
  const v = Math.max(-65504, Math.min(65504, Math.fround(x)))
  if (v === 0 || !Number.isFinite(v)) return v
  const a = Math.abs(v)
  const e = Math.max(Math.floor(Math.log2(a)), -14)
  const ulp = 2 ** (e - 10)
  const q = a / ulp
  let r = Math.round(q)
  if (Math.abs(q - Math.trunc(q) - 0.5) < 1e-12 && Math.trunc(q) % 2 === 0) r = Math.trunc(q) // ties to even
  return Math.sign(v) * Math.min(r * ulp, 65504)
}

export const rounder = (r: Rounding): ((x: number) => number) => (r === "none" ? (x) => x : r === "bf16" ? roundBf16 : roundF16)

/** C[M,N] = op(A)·op(B) (+bias) with operands rounded by `r` (A stored [K,M] when transA, B stored [N,K] when transB). */
export const matmul = (
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  M: number,
  N: number,
  K: number,
  opts: { transA?: boolean; transB?: boolean; bias?: ArrayLike<number>; rounding?: Rounding } = {}
): Vec => {
  const rnd = rounder(opts.rounding ?? "none")
  const c = new Float64Array(M * N)
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0
      for (let k = 0; k < K; k++) {
        const av = opts.transA ? a[k * M + i] : a[i * K + k]
        const bv = opts.transB ? b[j * K + k] : b[k * N + j]
        s += rnd(av) * rnd(bv)
      }
      c[i * N + j] = s + (opts.bias ? opts.bias[j] : 0)
    }
  }
  return c
}

export const GELU_C = Math.sqrt(2 / Math.PI)
/** "gelu_new": the tanh approximation. */
export const gelu = (x: number): number => 0.5 * x * (1 + Math.tanh(GELU_C * (x + 0.044715 * x ** 3)))

/**
 * erf(x) to about 1 ulp: the series erf(x) = (2/√π)·e^(−x²)·Σ_n 2^n x^(2n+1) / (1·3·…·(2n+1)),
 * whose terms are all positive (no cancellation), for |x| < 6; beyond, erf is ±1 in float64.
 */
export const erf = (x: number): number => {
  const ax = Math.abs(x)
  if (ax >= 6) return Math.sign(x)
  let term = ax
  let sum = ax
  for (let n = 1; n < 500; n++) {
    term *= (2 * ax * ax) / (2 * n + 1)
    sum += term
    if (term < sum * 1e-17) break
  }
  return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * Math.exp(-ax * ax) * sum
}

/** "gelu": the exact 0.5·x·(1 + erf(x/√2)). */
export const geluErf = (x: number): number => 0.5 * x * (1 + erf(x / Math.SQRT2))
export const geluGrad = (x: number): number => {
  const t = Math.tanh(GELU_C * (x + 0.044715 * x ** 3))
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * GELU_C * (1 + 3 * 0.044715 * x * x)
}

/** LayerNorm over rows of width d: y, and per-row (mean, rstd). */
export const layerNorm = (x: ArrayLike<number>, g: ArrayLike<number>, b: ArrayLike<number>, rows: number, d: number, eps: number) => {
  const y = new Float64Array(rows * d)
  const mean = new Float64Array(rows)
  const rstd = new Float64Array(rows)
  for (let r = 0; r < rows; r++) {
    let m = 0
    for (let j = 0; j < d; j++) m += x[r * d + j]
    m /= d
    let v = 0
    for (let j = 0; j < d; j++) v += (x[r * d + j] - m) ** 2
    v /= d
    const s = 1 / Math.sqrt(v + eps)
    mean[r] = m
    rstd[r] = s
    for (let j = 0; j < d; j++) y[r * d + j] = (x[r * d + j] - m) * s * g[j] + b[j]
  }
  return { y, mean, rstd }
}

export const layerNormBackward = (x: ArrayLike<number>, g: ArrayLike<number>, dy: ArrayLike<number>, rows: number, d: number, eps: number) => {
  const { mean, rstd } = layerNorm(x, g, new Float64Array(d), rows, d, eps)
  const dx = new Float64Array(rows * d)
  const dg = new Float64Array(d)
  const db = new Float64Array(d)
  for (let r = 0; r < rows; r++) {
    let a = 0
    let bsum = 0
    for (let j = 0; j < d; j++) {
      const xh = (x[r * d + j] - mean[r]) * rstd[r]
      const dxh = dy[r * d + j] * g[j]
      a += dxh
      bsum += dxh * xh
      dg[j] += dy[r * d + j] * xh
      db[j] += dy[r * d + j]
    }
    a /= d
    bsum /= d
    for (let j = 0; j < d; j++) {
      const xh = (x[r * d + j] - mean[r]) * rstd[r]
      dx[r * d + j] = rstd[r] * (dy[r * d + j] * g[j] - a - xh * bsum)
    }
  }
  return { dx, dg, db }
}

/** Causal multi-head attention on packed qkv [B·T, 3d] → out [B·T, d] and probabilities [B,H,T,T]. */
export const attention = (qkv: ArrayLike<number>, B: number, T: number, d: number, H: number, rounding: Rounding = "none") => {
  const rnd = rounder(rounding)
  const hd = d / H
  const scale = 1 / Math.sqrt(hd)
  const out = new Float64Array(B * T * d)
  const P = new Float64Array(B * H * T * T)
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < T; i++) {
        const qi = (b * T + i) * 3 * d + h * hd
        const s = new Float64Array(i + 1)
        let mx = -Infinity
        for (let j = 0; j <= i; j++) {
          const kj = (b * T + j) * 3 * d + d + h * hd
          let dot = 0
          for (let e = 0; e < hd; e++) dot += rnd(qkv[qi + e]) * rnd(qkv[kj + e])
          s[j] = dot * scale
          mx = Math.max(mx, s[j])
        }
        let z = 0
        for (let j = 0; j <= i; j++) z += Math.exp(s[j] - mx)
        const prow = ((b * H + h) * T + i) * T
        for (let j = 0; j <= i; j++) P[prow + j] = Math.exp(s[j] - mx) / z
        for (let e = 0; e < hd; e++) {
          let acc = 0
          for (let j = 0; j <= i; j++) acc += rnd(P[prow + j]) * rnd(qkv[(b * T + j) * 3 * d + 2 * d + h * hd + e])
          out[(b * T + i) * d + h * hd + e] = acc
        }
      }
  return { out, P }
}

export const attentionBackward = (qkv: ArrayLike<number>, dout: ArrayLike<number>, B: number, T: number, d: number, H: number): Vec => {
  const { P } = attention(qkv, B, T, d, H)
  const hd = d / H
  const scale = 1 / Math.sqrt(hd)
  const dqkv = new Float64Array(B * T * 3 * d)
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < T; i++) {
        const prow = ((b * H + h) * T + i) * T
        const dP = new Float64Array(i + 1)
        for (let j = 0; j <= i; j++) {
          let s = 0
          for (let e = 0; e < hd; e++) s += dout[(b * T + i) * d + h * hd + e] * qkv[(b * T + j) * 3 * d + 2 * d + h * hd + e]
          dP[j] = s
        }
        let D = 0
        for (let j = 0; j <= i; j++) D += P[prow + j] * dP[j]
        for (let j = 0; j <= i; j++) {
          const dS = P[prow + j] * (dP[j] - D) * scale
          for (let e = 0; e < hd; e++) {
            dqkv[(b * T + i) * 3 * d + h * hd + e] += dS * qkv[(b * T + j) * 3 * d + d + h * hd + e]
            dqkv[(b * T + j) * 3 * d + d + h * hd + e] += dS * qkv[(b * T + i) * 3 * d + h * hd + e]
            dqkv[(b * T + j) * 3 * d + 2 * d + h * hd + e] += P[prow + j] * dout[(b * T + i) * d + h * hd + e]
          }
        }
      }
  return dqkv
}

export const NO_TARGET = 0xffffffff

/**
 * Softmax cross-entropy per row: loss in nats, log2 p(target), and the
 * gradient (softmax − onehot)·scale (zero for rows without a target).
 */
export const softmaxCrossEntropy = (logits: ArrayLike<number>, targets: ArrayLike<number>, rows: number, V: number, scale: number) => {
  const loss = new Float64Array(rows)
  const logp2 = new Float64Array(rows)
  const grad = new Float64Array(rows * V)
  for (let r = 0; r < rows; r++) {
    const t = targets[r]
    if (t === NO_TARGET) continue
    let mx = -Infinity
    for (let v = 0; v < V; v++) mx = Math.max(mx, logits[r * V + v])
    let z = 0
    for (let v = 0; v < V; v++) z += Math.exp(logits[r * V + v] - mx)
    const lse = mx + Math.log(z)
    loss[r] = lse - logits[r * V + t]
    logp2[r] = -loss[r] / Math.LN2
    for (let v = 0; v < V; v++) grad[r * V + v] = (Math.exp(logits[r * V + v] - lse) - (v === t ? 1 : 0)) * scale
  }
  return { loss, logp2, grad }
}

/** x[n] = wte[tok[n]] + wpe[n mod T]. */
export const embedding = (tokens: ArrayLike<number>, wte: ArrayLike<number>, wpe: ArrayLike<number>, T: number, d: number): Vec => {
  const x = new Float64Array(tokens.length * d)
  for (let n = 0; n < tokens.length; n++) for (let j = 0; j < d; j++) x[n * d + j] = wte[tokens[n] * d + j] + wpe[(n % T) * d + j]
  return x
}

export const embeddingBackward = (tokens: ArrayLike<number>, dx: ArrayLike<number>, V: number, T: number, d: number) => {
  const dwte = new Float64Array(V * d)
  const dwpe = new Float64Array(T * d)
  for (let n = 0; n < tokens.length; n++)
    for (let j = 0; j < d; j++) {
      dwte[tokens[n] * d + j] += dx[n * d + j]
      dwpe[(n % T) * d + j] += dx[n * d + j]
    }
  return { dwte, dwpe }
}

/** Column sums of a [rows, cols] matrix (bias gradients). */
export const colSum = (x: ArrayLike<number>, rows: number, cols: number): Vec => {
  const out = new Float64Array(cols)
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c] += x[r * cols + c]
  return out
}

export const sumSquares = (x: ArrayLike<number>): number => {
  let s = 0
  for (let i = 0; i < x.length; i++) s += x[i] * x[i]
  return s
}

export interface AdamWStep {
  readonly lr: number
  readonly beta1: number
  readonly beta2: number
  readonly eps: number
  readonly weightDecay: number
  /** 1-based step number (bias correction). */
  readonly step: number
  /** Gradients are scaled by min(1, clip/‖g‖) when clip > 0. */
  readonly clip: number
}

/** One AdamW step (decoupled weight decay on elements i < decayEnd), in place. */
export const adamw = (p: Float64Array, g: ArrayLike<number>, m: Float64Array, v: Float64Array, s: AdamWStep, decayEnd: number): void => {
  const norm = Math.sqrt(sumSquares(g))
  const scale = s.clip > 0 ? Math.min(1, s.clip / (norm + 1e-6)) : 1
  const bc1 = 1 - s.beta1 ** s.step
  const bc2 = 1 - s.beta2 ** s.step
  for (let i = 0; i < p.length; i++) {
    const gi = g[i] * scale
    m[i] = s.beta1 * m[i] + (1 - s.beta1) * gi
    v[i] = s.beta2 * v[i] + (1 - s.beta2) * gi * gi
    const upd = m[i] / bc1 / (Math.sqrt(v[i] / bc2) + s.eps)
    const wd = i < decayEnd ? s.weightDecay : 0
    p[i] = p[i] - s.lr * (upd + wd * p[i])
  }
}
