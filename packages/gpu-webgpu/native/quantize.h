// Frequencies for arithmetic coding: the native twin of packages/core/src/quantize.ts.
#pragma once
#include <cstdint>

namespace memo {

// Quantizes `rows` rows of V float32 logits into cumulative frequencies
// (rows × (V + 1) int32: cum[0] = 0, cum[V] = 2^P) and per row the maximum
// logit and Z = Σ 2^((l − m)·log2 e) (stats: rows × 2). Returns −1, or the
// first row the TypeScript definition refuses (NaN, +∞, no finite maximum):
// that row's outputs are unspecified and the caller names the error.
int quantize_rows(const float* logits, int rows, int V, int P, int32_t* cum, double* stats, int threads);

}  // namespace memo
