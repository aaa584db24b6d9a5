// CPU kernels (see kernels.h). Loops over contiguous floats with the
// operand-rounding mode as a template parameter, so the inner loops carry no
// branch and the compiler vectorises them (-O3 -march=native).
#include "kernels.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace memo {
namespace {

inline uint32_t bits_of(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}
inline float float_of(uint32_t u) {
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

// bfloat16 round-to-nearest-even; NaN and infinities pass through (as rnd() in common.ts).
inline float round_bf16(float x) {
  uint32_t u = bits_of(x);
  if ((u & 0x7f800000u) == 0x7f800000u) return x;
  return float_of((u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u);
}

// IEEE half round trip in integer arithmetic (as rnd() in common.ts): RNE,
// subnormals, flush below 2^-25, saturation at 65504.
inline float round_fp16(float x) {
  uint32_t u = bits_of(x);
  uint32_t a = u & 0x7fffffffu;
  if (a >= 0x7f800000u) return x;
  int e = int(a >> 23) - 127;
  if (e < -25) return 0.0f * x;
  int drop = 13 + std::max(e, -14) - e;
  uint32_t mant = (a & 0x7fffffu) | 0x800000u;
  uint32_t r = (mant + (1u << (drop - 1)) - 1u + ((mant >> drop) & 1u)) >> drop;
  float v = std::min(std::ldexp(float(r), e - 23 + drop), 65504.0f);
  return (u & 0x80000000u) ? -v : v;
}

template <int R>
inline float rnd(float x) {
  if constexpr (R == kBf16) return round_bf16(x);
  else if constexpr (R == kFp16) return round_fp16(x);
  else return x;
}

// e^x for x ≤ 0 (arguments are logit − max): Cody–Waite reduction by ln 2 and a
// degree-6 polynomial, ≈1 ulp; branch-free so a loop of it vectorises.
inline float exp_nonpos(float x) {
  x = std::max(x, -87.0f);
  const float shifter = 12582912.0f;  // 1.5·2^23: adding it rounds to an integer
  float n = (x * 1.44269504088896341f + shifter) - shifter;
  float r = x - n * 0.693145751953125f;
  r = r - n * 1.428606765330187045e-06f;
  float p = 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t k = int32_t(n);
  return p * float_of(uint32_t(k + 127) << 23);
}

// GPT-2's GELU (tanh form) and its derivative, with tanh through exp (clamped
// argument, as in common.ts) so the loops vectorise.
inline float tanh_clamped(float u) {
  u = std::min(std::max(u, -15.0f), 15.0f);
  float e = exp_nonpos(-2.0f * std::fabs(u));
  float t = (1.0f - e) / (1.0f + e);
  return u < 0 ? -t : t;
}
constexpr float kGeluC = 0.7978845608028654f;
inline float gelu(float x) {
  float t = tanh_clamped(kGeluC * (x + 0.044715f * x * x * x));
  return 0.5f * x * (1.0f + t);
}
inline float gelu_grad(float x) {
  float t = tanh_clamped(kGeluC * (x + 0.044715f * x * x * x));
  return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * kGeluC * (1.0f + 3.0f * 0.044715f * x * x);
}

// Threads for a loop of `work` elementary operations: parallel regions cost a
// wake-up and a barrier (tens of µs, far more on a loaded machine), so small
// loops run on the calling thread.
inline int threads_for(const Ctx& ctx, double work) { return work < 2e5 ? 1 : ctx.threads; }

template <typename F>
void dispatch_rounding(int rounding, F&& f) {
  if (rounding == kBf16) f(std::integral_constant<int, kBf16>{});
  else if (rounding == kFp16) f(std::integral_constant<int, kFp16>{});
  else f(std::integral_constant<int, kNone>{});
}

// Output blocks of a GEMM: fixed sizes, so each element's sum is computed by
// the same BLAS call whatever the thread count.
constexpr int kBlockM = 256;
constexpr int kBlockN = 512;

void sgemm_block(bool transA, bool transB, int M, int N, int K, const float* a, const float* b, float* c, int i0, int i1, int j0, int j1, float beta) {
  const float* ab = transA ? a + i0 : a + size_t(i0) * K;
  const float* bb = transB ? b + size_t(j0) * K : b + j0;
  cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, i1 - i0, j1 - j0, K, 1.0f, ab,
              transA ? M : K, bb, transB ? K : N, beta, c + size_t(i0) * N + j0, N);
}

}  // namespace

void round_copy(const float* x, float* y, size_t n, int rounding) {
  dispatch_rounding(rounding, [&](auto R) {
    for (size_t i = 0; i < n; i++) y[i] = rnd<R.value>(x[i]);
  });
}

void matmul(const Ctx& ctx, const Matmul& s) {
  const float* a = s.a;
  const float* b = s.b;
  if (s.rounding != kNone) {
    size_t na = size_t(s.M) * s.K, nb = size_t(s.K) * s.N;
    round_copy(s.a, s.scratch, na, s.rounding);
    round_copy(s.b, s.scratch + na, nb, s.rounding);
    a = s.scratch;
    b = s.scratch + na;
  }
  const int bm = (s.M + kBlockM - 1) / kBlockM, bn = (s.N + kBlockN - 1) / kBlockN;
  const int blocks = bm * bn;
#pragma omp parallel for num_threads(std::min(blocks, threads_for(ctx, 2.0 * s.M * s.N * s.K))) schedule(dynamic, 1)
  for (int blk = 0; blk < blocks; blk++) {
    const int i0 = (blk / bn) * kBlockM, i1 = std::min(s.M, i0 + kBlockM);
    const int j0 = (blk % bn) * kBlockN, j1 = std::min(s.N, j0 + kBlockN);
    if (s.K == 0) {
      for (int i = i0; i < i1; i++)
        for (int j = j0; j < j1; j++)
          if (!s.accumulate) s.c[size_t(i) * s.N + j] = 0;
    } else {
      sgemm_block(s.transA, s.transB, s.M, s.N, s.K, a, b, s.c, i0, i1, j0, j1, s.accumulate ? 1.0f : 0.0f);
    }
    if (s.bias == nullptr && s.residual == nullptr && s.pre == nullptr) continue;
    // Epilogue in the order of matmul.ts: acc (+C) + bias + residual, then GELU.
    for (int i = i0; i < i1; i++) {
      float* row = s.c + size_t(i) * s.N;
      if (s.bias)
        for (int j = j0; j < j1; j++) row[j] += s.bias[j];
      if (s.residual) {
        const float* r = s.residual + size_t(i) * s.N;
        for (int j = j0; j < j1; j++) row[j] += r[j];
      }
      if (s.pre) {
        float* p = s.pre + size_t(i) * s.N;
        for (int j = j0; j < j1; j++) {
          p[j] = row[j];
          row[j] = gelu(row[j]);
        }
      }
    }
  }
}

void embedding_forward(const Ctx& ctx, int N, int T, int d, const uint32_t* tok, const float* wte, const float* wpe, float* x) {
#pragma omp parallel for num_threads(threads_for(ctx, double(N) * d)) schedule(static)
  for (int n = 0; n < N; n++) {
    const float* te = wte + size_t(tok[n]) * d;
    const float* pe = wpe + size_t(n % T) * d;
    float* out = x + size_t(n) * d;
    for (int j = 0; j < d; j++) out[j] = te[j] + pe[j];
  }
}

void embedding_backward(const Ctx& ctx, int N, int T, int d, int V, const float* dx, const uint32_t* rowStart, const uint32_t* rowIdx, float* dwte,
                        float* dwpe) {
  // Tokens: gather over the CSR index (rows of each token in increasing order), as embedding.wgsl.
#pragma omp parallel num_threads(threads_for(ctx, 2.0 * N * d))
  {
#pragma omp for schedule(dynamic, 64) nowait
    for (int v = 0; v < V; v++) {
      const uint32_t r0 = rowStart[v], r1 = rowStart[v + 1];
      if (r0 == r1) continue;
      float* out = dwte + size_t(v) * d;
      for (uint32_t k = r0; k < r1; k++) {
        const float* g = dx + size_t(rowIdx[k]) * d;
        for (int j = 0; j < d; j++) out[j] += g[j];
      }
    }
#pragma omp for schedule(static)
    for (int t = 0; t < T; t++) {
      float* out = dwpe + size_t(t) * d;
      for (int b = 0; b < N / T; b++) {
        const float* g = dx + (size_t(b) * T + t) * d;
        for (int j = 0; j < d; j++) out[j] += g[j];
      }
    }
  }
}

void layernorm_forward(const Ctx& ctx, int rows, int d, float eps, const float* x, const float* g, const float* b, float* y, float* stats) {
#pragma omp parallel for num_threads(threads_for(ctx, 8.0 * rows * d)) schedule(static)
  for (int r = 0; r < rows; r++) {
    const float* xr = x + size_t(r) * d;
    float m = 0;
    for (int j = 0; j < d; j++) m += xr[j];
    m /= float(d);
    float v = 0;
    for (int j = 0; j < d; j++) {
      float c = xr[j] - m;
      v += c * c;
    }
    v /= float(d);
    float s = 1.0f / std::sqrt(v + eps);
    stats[2 * size_t(r)] = m;
    stats[2 * size_t(r) + 1] = s;
    float* yr = y + size_t(r) * d;
    for (int j = 0; j < d; j++) yr[j] = (xr[j] - m) * s * g[j] + b[j];
  }
}

void layernorm_backward_input(const Ctx& ctx, int rows, int d, const float* x, const float* g, const float* stats, const float* dy, float* dx,
                              bool accumulate) {
#pragma omp parallel for num_threads(threads_for(ctx, 10.0 * rows * d)) schedule(static)
  for (int r = 0; r < rows; r++) {
    const float* xr = x + size_t(r) * d;
    const float* dyr = dy + size_t(r) * d;
    float* dxr = dx + size_t(r) * d;
    const float m = stats[2 * size_t(r)], s = stats[2 * size_t(r) + 1];
    float a = 0, bsum = 0;
    for (int j = 0; j < d; j++) {
      float dxh = dyr[j] * g[j];
      a += dxh;
      bsum += dxh * (xr[j] - m) * s;
    }
    a /= float(d);
    bsum /= float(d);
    for (int j = 0; j < d; j++) {
      float xh = (xr[j] - m) * s;
      float v = s * (dyr[j] * g[j] - a - xh * bsum);
      dxr[j] = accumulate ? dxr[j] + v : v;
    }
  }
}

void layernorm_backward_params(const Ctx& ctx, int rows, int d, const float* x, const float* stats, const float* dy, float* dg, float* db) {
  // Column sums in row order per column (as layernorm.wgsl); threads split the columns.
#pragma omp parallel num_threads(threads_for(ctx, 4.0 * rows * d))
  {
    const int nt = omp_get_num_threads(), t = omp_get_thread_num();
    const int j0 = int(int64_t(d) * t / nt), j1 = int(int64_t(d) * (t + 1) / nt);
    if (j1 > j0) {
      std::vector<float> sgv(j1 - j0, 0.0f), sbv(j1 - j0, 0.0f);
      float* __restrict sg = sgv.data();
      float* __restrict sb = sbv.data();
      for (int r = 0; r < rows; r++) {
        const float m = stats[2 * size_t(r)], s = stats[2 * size_t(r) + 1];
        const float* __restrict xr = x + size_t(r) * d + j0;
        const float* __restrict dyr = dy + size_t(r) * d + j0;
        for (int j = 0; j < j1 - j0; j++) {
          sg[j] += dyr[j] * (xr[j] - m) * s;
          sb[j] += dyr[j];
        }
      }
      for (int j = j0; j < j1; j++) {
        dg[j] += sgv[j - j0];
        db[j] += sbv[j - j0];
      }
    }
  }
}

void gelu_forward(const Ctx& ctx, size_t n, const float* x, float* y) {
#pragma omp parallel for num_threads(threads_for(ctx, 20.0 * n)) schedule(static)
  for (size_t i = 0; i < n; i++) y[i] = gelu(x[i]);
}

void gelu_backward(const Ctx& ctx, size_t n, const float* x, const float* dy, float* dx) {
#pragma omp parallel for num_threads(threads_for(ctx, 30.0 * n)) schedule(static)
  for (size_t i = 0; i < n; i++) dx[i] = dy[i] * gelu_grad(x[i]);
}

namespace {

// One (sequence, head) block of causal attention, its products as small
// GEMMs (scores over all T×T positions, the causal mask applied by the
// softmax). q/k/v rows are strided by 3d in qkv; probabilities are a T×T
// table with zeros above the diagonal. With operand rounding the operands
// are rounded copies (P itself is kept unrounded, as attention.wgsl does).
inline void gemm(bool ta, bool tb, int M, int N, int K, float alpha, const float* a, int lda, const float* b, int ldb, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N, K, alpha, a, lda, b, ldb, 0.0f, c, ldc);
}

template <int R>
const float* rounded(const float* x, int rows, int cols, int ld, float* into) {
  if constexpr (R == kNone) return x;
  for (int r = 0; r < rows; r++)
    for (int c = 0; c < cols; c++) into[r * cols + c] = rnd<R>(x[size_t(r) * ld + c]);
  return into;
}

template <int R>
void attention_forward_block(int T, int d, int hd, float scale, const float* qkv, float* out, float* P, float* scratch) {
  const int ld = 3 * d;
  const int lr = R == kNone ? ld : hd;  // leading dimension of the (rounded) operands
  const float* q = rounded<R>(qkv, T, hd, ld, scratch);
  const float* k = rounded<R>(qkv + d, T, hd, ld, scratch + T * hd);
  const float* v = rounded<R>(qkv + 2 * d, T, hd, ld, scratch + 2 * T * hd);
  gemm(false, true, T, T, hd, scale, q, lr, k, lr, P, T);
  for (int i = 0; i < T; i++) {
    float* __restrict row = P + size_t(i) * T;
    const int n = i + 1;
    float mx = -3.0e38f;
#pragma omp simd reduction(max : mx)
    for (int j = 0; j < n; j++) mx = std::max(mx, row[j]);
    float z = 0;
#pragma omp simd reduction(+ : z)
    for (int j = 0; j < n; j++) {
      const float w = exp_nonpos(row[j] - mx);
      row[j] = w;
      z += w;
    }
    const float invz = 1.0f / z;
    for (int j = 0; j < n; j++) row[j] *= invz;
    for (int j = n; j < T; j++) row[j] = 0;
  }
  const float* p = rounded<R>(P, T, T, T, scratch + 3 * T * hd);
  gemm(false, false, T, hd, T, 1.0f, p, T, v, lr, out, d);
}

template <int R>
void attention_backward_block(int T, int d, int hd, float scale, const float* qkv, const float* P, const float* dout, float* dS, float* dqkv, float* scratch) {
  const int ld = 3 * d;
  const int lr = R == kNone ? ld : hd;
  const int lo = R == kNone ? d : hd;
  const float* q = rounded<R>(qkv, T, hd, ld, scratch);
  const float* k = rounded<R>(qkv + d, T, hd, ld, scratch + T * hd);
  const float* v = rounded<R>(qkv + 2 * d, T, hd, ld, scratch + 2 * T * hd);
  const float* go = rounded<R>(dout, T, hd, d, scratch + 3 * T * hd);
  // dP = dout·vᵀ, then per row dS = P (dP − Σ_k P_k dP_k)·scale.
  gemm(false, true, T, T, hd, 1.0f, go, lo, v, lr, dS, T);
  for (int i = 0; i < T; i++) {
    const float* __restrict prow = P + size_t(i) * T;
    float* __restrict srow = dS + size_t(i) * T;
    const int n = i + 1;
    float D = 0;
#pragma omp simd reduction(+ : D)
    for (int j = 0; j < n; j++) D += prow[j] * srow[j];
    for (int j = 0; j < n; j++) srow[j] = prow[j] * (srow[j] - D) * scale;
    for (int j = n; j < T; j++) srow[j] = 0;
  }
  float* const extra = scratch + 4 * T * hd;
  const float* ds = rounded<R>(dS, T, T, T, extra);
  const float* p = rounded<R>(P, T, T, T, extra + T * T);
  gemm(false, false, T, hd, T, 1.0f, ds, T, k, lr, dqkv, ld);           // dq = dS·k
  gemm(true, false, T, hd, T, 1.0f, ds, T, q, lr, dqkv + d, ld);        // dk = dSᵀ·q
  gemm(true, false, T, hd, T, 1.0f, p, T, go, lo, dqkv + 2 * d, ld);    // dv = Pᵀ·dout
}

}  // namespace

void attention_forward(const Ctx& ctx, int B, int T, int d, int H, int rounding, const float* qkv, float* out, float* probs) {
  const int hd = d / H;
  const float scale = 1.0f / std::sqrt(float(hd));
  dispatch_rounding(rounding, [&](auto R) {
#pragma omp parallel num_threads(ctx.threads)
    {
      std::vector<float> vr(3 * size_t(T) * hd + size_t(T) * T);
#pragma omp for schedule(static)
      for (int bh = 0; bh < B * H; bh++) {
        const int b = bh / H, h = bh % H;
        attention_forward_block<R.value>(T, d, hd, scale, qkv + size_t(b) * T * 3 * d + h * hd, out + size_t(b) * T * d + h * hd,
                                         probs + size_t(bh) * T * T, vr.data());
      }
    }
  });
}

void attention_backward(const Ctx& ctx, int B, int T, int d, int H, int rounding, const float* qkv, const float* probs, const float* dout, float* dscores,
                        float* dqkv) {
  const int hd = d / H;
  const float scale = 1.0f / std::sqrt(float(hd));
  dispatch_rounding(rounding, [&](auto R) {
#pragma omp parallel num_threads(ctx.threads)
    {
      std::vector<float> vr(4 * size_t(T) * hd + 2 * size_t(T) * T);
#pragma omp for schedule(static)
      for (int bh = 0; bh < B * H; bh++) {
        const int b = bh / H, h = bh % H;
        attention_backward_block<R.value>(T, d, hd, scale, qkv + size_t(b) * T * 3 * d + h * hd, probs + size_t(bh) * T * T,
                                          dout + size_t(b) * T * d + h * hd, dscores + size_t(bh) * T * T, dqkv + size_t(b) * T * 3 * d + h * hd,
                                          vr.data());
      }
    }
  });
}

namespace {

// Row b, head h of attention_step; pointers already at (b, h): qkv at its q,
// the caches at the sequence's row 0, out at the head's slice. `w` holds
// hd + pos + 1 floats.
template <int R>
void attention_step_block(int pos, int d, int hd, float scale, const float* qkv, float* kc, float* vc, float* out, float* w) {
  float* __restrict q = w;
  float* __restrict s = w + hd;
  for (int i = 0; i < hd; i++) {
    q[i] = rnd<R>(qkv[i]);
    kc[size_t(pos) * d + i] = rnd<R>(qkv[d + i]);
    vc[size_t(pos) * d + i] = rnd<R>(qkv[2 * d + i]);
  }
  float mx = -3.0e38f;
  for (int j = 0; j <= pos; j++) {
    const float* __restrict k = kc + size_t(j) * d;
    float dot = 0;
    for (int i = 0; i < hd; i++) dot += q[i] * k[i];
    s[j] = dot * scale;
    mx = std::max(mx, s[j]);
  }
  float z = 0;
  for (int j = 0; j <= pos; j++) {
    s[j] = exp_nonpos(s[j] - mx);
    z += s[j];
  }
  const float invz = 1.0f / z;
  for (int i = 0; i < hd; i++) out[i] = 0;
  for (int j = 0; j <= pos; j++) {
    const float p = rnd<R>(s[j] * invz);
    const float* __restrict v = vc + size_t(j) * d;
    for (int i = 0; i < hd; i++) out[i] += p * v[i];
  }
}

}  // namespace

void attention_step(const Ctx& ctx, int B, int T, int pos, int d, int H, int rounding, const float* qkv, float* kCache, float* vCache, float* out) {
  const int hd = d / H;
  const float scale = 1.0f / std::sqrt(float(hd));
  dispatch_rounding(rounding, [&](auto R) {
    // Each (row, head) is one thread's whole computation: no sum crosses iterations.
#pragma omp parallel num_threads(threads_for(ctx, 4.0 * B * d * (pos + 1)))
    {
      std::vector<float> w(size_t(hd) + pos + 1);
#pragma omp for schedule(static)
      for (int bh = 0; bh < B * H; bh++) {
        const int b = bh / H, h = bh % H;
        const size_t cache = size_t(b) * T * d + size_t(h) * hd;
        attention_step_block<R.value>(pos, d, hd, scale, qkv + size_t(b) * 3 * d + h * hd, kCache + cache, vCache + cache, out + size_t(b) * d + h * hd,
                                      w.data());
      }
    }
  });
}

void column_sum(const Ctx& ctx, int rows, int cols, const float* x, float* out, bool accumulate) {
#pragma omp parallel num_threads(threads_for(ctx, double(rows) * cols))
  {
    const int nt = omp_get_num_threads(), t = omp_get_thread_num();
    const int c0 = int(int64_t(cols) * t / nt), c1 = int(int64_t(cols) * (t + 1) / nt);
    if (c1 > c0) {
      std::vector<float> sums(c1 - c0, 0.0f);
      float* __restrict s = sums.data();
      for (int r = 0; r < rows; r++) {
        const float* __restrict xr = x + size_t(r) * cols + c0;
        for (int c = 0; c < c1 - c0; c++) s[c] += xr[c];
      }
      for (int c = c0; c < c1; c++) out[c] = accumulate ? out[c] + s[c - c0] : s[c - c0];
    }
  }
}

void total_sum(const Ctx& ctx, size_t n, const float* x, float* out, bool square, bool accumulate) {
  // Fixed blocks summed in double, blocks added in order: the same result for any thread count.
  constexpr size_t kBlock = 1 << 14;
  const size_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> part(blocks, 0.0);
#pragma omp parallel for num_threads(threads_for(ctx, double(n))) schedule(static)
  for (size_t blk = 0; blk < blocks; blk++) {
    const size_t i0 = blk * kBlock, i1 = std::min(n, i0 + kBlock);
    double s = 0;
    if (square)
      for (size_t i = i0; i < i1; i++) s += double(x[i]) * double(x[i]);
    else
      for (size_t i = i0; i < i1; i++) s += double(x[i]);
    part[blk] = s;
  }
  double total = 0;
  for (double p : part) total += p;
  out[0] = accumulate ? float(double(out[0]) + total) : float(total);
}

void sequence_bits(const Ctx&, int sequences, int T, const float* logp2, float* bits) {
  for (int b = 0; b < sequences; b++) {
    float s = 0;
    for (int t = 0; t < T; t++) s -= logp2[size_t(b) * T + t];
    bits[b] = s;
  }
}

namespace {
constexpr int kHeadChunk = 64;  // rows per chunk: logits of a chunk stay in L2
constexpr int kHeadSlots = 4;   // partial dW sums; slot s takes chunks s, s+4, … in order
}  // namespace

size_t head_work_floats(int V, int d, bool train) {
  // Per slot: logits chunk [64, V], rounded x chunk [64, d], and (training) a dW partial [V, d]; shared: rounded W [V, d].
  size_t per = size_t(kHeadChunk) * V + size_t(kHeadChunk) * d + (train ? size_t(V) * d : 0);
  return kHeadSlots * per + size_t(V) * d;
}

void head(const Ctx& ctx, const Head& s) {
  const bool train = s.dx != nullptr;
  const int V = s.V, d = s.d;
  const size_t per = size_t(kHeadChunk) * V + size_t(kHeadChunk) * d + (train ? size_t(V) * d : 0);
  float* wr = s.work + kHeadSlots * per;
  const float* w = s.w;
  if (s.rounding != kNone) {
    round_copy(s.w, wr, size_t(V) * d, s.rounding);
    w = wr;
  }
  const int chunks = (s.rows + kHeadChunk - 1) / kHeadChunk;
  dispatch_rounding(s.rounding, [&](auto R) {
#pragma omp parallel for num_threads(std::min(ctx.threads, kHeadSlots)) schedule(static, 1)
    for (int slot = 0; slot < kHeadSlots; slot++) {
      float* logits = s.work + slot * per;
      float* xr = logits + size_t(kHeadChunk) * V;
      float* dwp = xr + size_t(kHeadChunk) * d;
      if (train) std::memset(dwp, 0, sizeof(float) * size_t(V) * d);
      for (int c = slot; c < chunks; c += kHeadSlots) {
        const int r0 = c * kHeadChunk, n = std::min(kHeadChunk, s.rows - r0);
        const float* x = s.x + size_t(r0) * d;
        if (R.value != kNone) {
          for (size_t i = 0; i < size_t(n) * d; i++) xr[i] = rnd<R.value>(x[i]);
          x = xr;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, V, d, 1.0f, x, d, w, d, 0.0f, logits, V);
        for (int i = 0; i < n; i++) {
          float* l = logits + size_t(i) * V;
          const uint32_t t = s.targets[r0 + i];
          if (t == kNoTarget) {
            s.loss[r0 + i] = 0;
            s.logp2[r0 + i] = 0;
            if (train) std::memset(l, 0, sizeof(float) * V);
            continue;
          }
          // SIMD reductions (lane partial sums, then combined): a fixed order, so still deterministic.
          float mx = -3.0e38f;
#pragma omp simd reduction(max : mx)
          for (int v = 0; v < V; v++) mx = std::max(mx, l[v]);
          const float target = l[t];
          float z = 0;
          if (train) {
#pragma omp simd reduction(+ : z)
            for (int v = 0; v < V; v++) {
              const float e = exp_nonpos(l[v] - mx);
              l[v] = e;
              z += e;
            }
          } else {
#pragma omp simd reduction(+ : z)
            for (int v = 0; v < V; v++) z += exp_nonpos(l[v] - mx);
          }
          const float lse = mx + std::log(z);
          const float loss = lse - target;
          s.loss[r0 + i] = loss;
          s.logp2[r0 + i] = -loss * 1.4426950408889634f;
          if (train) {
            // (softmax − onehot)·scale, as softmax_ce.wgsl; rounded once here, as the two GEMMs' operand.
            const float invz = 1.0f / z;
            const float et = l[t];
            for (int v = 0; v < V; v++) l[v] = rnd<R.value>(l[v] * invz * s.scale);
            l[t] = rnd<R.value>((et * invz - 1.0f) * s.scale);
          }
        }
        if (train) {
          // dx = dlogits·W (each row of the chunk once), dW_slot += dlogitsᵀ·x.
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, d, V, 1.0f, logits, V, w, d, 0.0f, s.dx + size_t(r0) * d, d);
          cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, V, d, n, 1.0f, logits, V, x, d, 1.0f, dwp, d);
        }
      }
    }
  });
  if (train) {
    const size_t n = size_t(V) * d;
#pragma omp parallel for num_threads(threads_for(ctx, double(n) * kHeadSlots)) schedule(static)
    for (size_t i = 0; i < n; i++) {
      float acc = s.dw[i];
      for (int slot = 0; slot < kHeadSlots; slot++) acc += (s.work + slot * per + size_t(kHeadChunk) * V + size_t(kHeadChunk) * d)[i];
      s.dw[i] = acc;
    }
  }
}

void adamw(const Ctx& ctx, const Adam& s) {
  float scale = 1.0f;
  if (s.clip > 0) scale = std::min(1.0f, s.clip / (std::sqrt(s.normSq[0]) + 1e-6f));
  const bool roundParams = s.roundParams;
#pragma omp parallel for num_threads(threads_for(ctx, 20.0 * s.n)) schedule(static)
  for (size_t i = 0; i < s.n; i++) {
    const float g = s.grads[i] * scale;
    const float m = s.beta1 * s.m[i] + (1.0f - s.beta1) * g;
    const float v = s.beta2 * s.v[i] + (1.0f - s.beta2) * g * g;
    s.m[i] = m;
    s.v[i] = v;
    const float upd = (m / s.bc1) / (std::sqrt(v / s.bc2) + s.eps);
    const float wd = i < s.decayEnd ? s.wd : 0.0f;
    float x = s.params[i] - s.lr * (upd + wd * s.params[i]);
    if (roundParams) x = round_bf16(x);
    s.params[i] = x;
  }
}

}  // namespace memo
