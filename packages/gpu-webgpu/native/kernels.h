// CPU kernels of the GPT-2 schedule (src/model/schedule.ts names each op).
// Every kernel mirrors its WGSL twin in src/kernels/: the same arithmetic in
// float32, the same operand rounding for the precision modes, the same
// "no target" convention. GEMMs go through OpenBLAS (single-threaded calls on
// fixed output blocks, so results do not depend on the thread count); the
// rest are plain loops written for the compiler's vectoriser, threaded with
// OpenMP.
#pragma once
#include <cstddef>
#include <cstdint>

namespace memo {

// Operand rounding before a multiply (the precision modes): none, bfloat16
// round-to-nearest-even, or a trip through IEEE half.
enum Rounding : int { kNone = 0, kBf16 = 1, kFp16 = 2 };

constexpr uint32_t kNoTarget = 0xffffffffu;

struct Ctx {
  int threads;  // OpenMP threads for this call
};

void round_copy(const float* x, float* y, size_t n, int rounding);

// C[M,N] (+)= op(A)·op(B) (+ bias) (+ residual); optional GELU epilogue
// (pre-activation kept in pre). A is [M,K] or [K,M] (transA); B is [K,N] or [N,K] (transB).
struct Matmul {
  int M, N, K;
  bool transA, transB, accumulate;
  const float* a;
  const float* b;
  const float* bias;      // may be null
  const float* residual;  // may be null
  float* pre;             // GELU pre-activation, null when no GELU
  float* c;
  int rounding;
  float* scratch;  // rounded operand copies (size ≥ |A| + |B|) when rounding != 0
};
void matmul(const Ctx&, const Matmul&);

void embedding_forward(const Ctx&, int N, int T, int d, const uint32_t* tok, const float* wte, const float* wpe, float* x);
void embedding_backward(const Ctx&, int N, int T, int d, int V, const float* dx, const uint32_t* rowStart, const uint32_t* rowIdx, float* dwte, float* dwpe);
void layernorm_forward(const Ctx&, int rows, int d, float eps, const float* x, const float* g, const float* b, float* y, float* stats);
void layernorm_backward_input(const Ctx&, int rows, int d, const float* x, const float* g, const float* stats, const float* dy, float* dx, bool accumulate);
void layernorm_backward_params(const Ctx&, int rows, int d, const float* x, const float* stats, const float* dy, float* dg, float* db);
void gelu_forward(const Ctx&, size_t n, const float* x, float* y);
void gelu_backward(const Ctx&, size_t n, const float* x, const float* dy, float* dx);
void attention_forward(const Ctx&, int B, int T, int d, int H, int rounding, const float* qkv, float* out, float* probs);
void attention_backward(const Ctx&, int B, int T, int d, int H, int rounding, const float* qkv, const float* probs, const float* dout, float* dscores, float* dqkv);
// One position of causal attention for B rows with a key/value cache (B × T
// × d each): each row's k and v (in qkv, B × 3d as q|k|v) stored at cache row
// `pos`, then its q attends over cache rows 0…pos into out (B × d). The same
// arithmetic as attention_forward for one score row: q·k scaled, softmax by
// exp_nonpos, operands rounded in the precision modes (P rounded before P·v).
void attention_step(const Ctx&, int B, int T, int pos, int d, int H, int rounding, const float* qkv, float* kCache, float* vCache, float* out);
void column_sum(const Ctx&, int rows, int cols, const float* x, float* out, bool accumulate);
// out[0] (+)= Σ x (Σ x² when square), accumulated in double.
void total_sum(const Ctx&, size_t n, const float* x, float* out, bool square, bool accumulate);
void sequence_bits(const Ctx&, int sequences, int T, const float* logp2, float* bits);

// The LM head fused with softmax cross-entropy, over chunks of rows so the
// logits never exist whole: per chunk, logits = x·Wᵀ, loss / log2 p, and when
// training dlogits = (softmax − onehot)·scale, dx = dlogits·W,
// dW += dlogitsᵀ·x (per-slot partial sums, added in a fixed order).
struct Head {
  int rows, V, d;
  const float* x;
  const float* w;
  const uint32_t* targets;
  float* loss;
  float* logp2;
  // Training (null otherwise):
  float* dx;
  float* dw;
  float scale;
  int rounding;
  float* work;  // head_work_floats(...) floats
};
size_t head_work_floats(int V, int d, bool train);
void head(const Ctx&, const Head&);

// AdamW over the whole flat parameter buffer, with global-norm clipping
// (normSq from total_sum) and optional bf16 storage of the parameters.
struct Adam {
  size_t n, decayEnd;
  float* params;
  const float* grads;
  float* m;
  float* v;
  const float* normSq;
  float lr, beta1, beta2, eps, wd, bc1, bc2, clip;
  bool roundParams;
};
void adamw(const Ctx&, const Adam&);

}  // namespace memo
