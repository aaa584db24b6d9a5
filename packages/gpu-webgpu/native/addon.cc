// The Node addon (plain N-API): runs a program of kernel ops (encoded by
// src/cpu/program.ts) over arenas of float32 memory that JavaScript owns.
// A program is a Float64Array of records [opcode, argument count, arguments…];
// tensors are addresses arena·2^50 + float offset (u32 tensors share the
// arenas, bit for bit). The encoder checks every range against its arena.
// `run` executes on the calling thread; `runAsync` on libuv's pool (a Promise),
// so several models can train at once in one process.
#include <cblas.h>
#include <node_api.h>
#include <omp.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "kernels.h"
#include "quantize.h"

namespace {

enum Op : int {
  kEmbedForward = 1,
  kEmbedBackward = 2,
  kLayerNormForward = 3,
  kLayerNormBackwardInput = 4,
  kLayerNormBackwardParams = 5,
  kMatmul = 6,
  kGeluForward = 7,
  kGeluBackward = 8,
  kAttentionForward = 9,
  kAttentionBackward = 10,
  kColumnSum = 11,
  kTotalSum = 12,
  kSequenceBits = 13,
  kHead = 14,
  kAdamW = 15,
  kZero = 16,
  kCopy = 17,
  kAttentionStep = 18,
  kLastOp = kAttentionStep,
};

// Tensor addresses are arena · 2^50 + float offset (doubles hold integers exactly up to 2^53).
constexpr double kArenaStride = 1125899906842624.0;  // 2^50
constexpr int kMaxArenas = 4;

struct Program {
  float* arenas[kMaxArenas];
  size_t arenaFloats[kMaxArenas];
  int arenaCount;
  const double* code;
  size_t codeLength;
  int threads;
};

// Runs a program; returns an empty string or what was wrong (checked before any op runs).
std::string check(const Program& p) {
  size_t at = 0;
  while (at < p.codeLength) {
    if (at + 2 > p.codeLength) return "program truncated at word " + std::to_string(at);
    const int op = int(p.code[at]);
    const size_t n = size_t(p.code[at + 1]);
    if (op < kEmbedForward || op > kLastOp) return "unknown opcode " + std::to_string(op) + " at word " + std::to_string(at);
    if (at + 2 + n > p.codeLength) return "op " + std::to_string(op) + " overruns the program";
    at += 2 + n;
  }
  return "";
}

// Per-opcode wall time (ns), accumulated when MEMORIZE_CPU_PROFILE is set: where a step's time goes.
const bool kProfile = std::getenv("MEMORIZE_CPU_PROFILE") != nullptr;
std::atomic<int64_t> profileNs[kLastOp + 1];
std::atomic<int64_t> profileCalls[kLastOp + 1];

void execute(const Program& p) {
  const memo::Ctx ctx{p.threads};
  auto at_address = [&](double x) -> float* {
    const int arena = int(x / kArenaStride);
    return p.arenas[arena] + size_t(x - arena * kArenaStride);
  };
  size_t at = 0;
  while (at < p.codeLength) {
    const int op = int(p.code[at]);
    const size_t n = size_t(p.code[at + 1]);
    const double* a = p.code + at + 2;
    auto I = [&](int k) { return int(a[k]); };
    auto Z = [&](int k) { return size_t(a[k]); };
    auto F = [&](int k) -> float* { return a[k] < 0 ? nullptr : at_address(a[k]); };
    auto U = [&](int k) -> uint32_t* { return reinterpret_cast<uint32_t*>(at_address(a[k])); };
    auto B = [&](int k) { return a[k] != 0; };
    const auto started = kProfile ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
    switch (op) {
      case kEmbedForward:  // N T d tok wte wpe x
        memo::embedding_forward(ctx, I(0), I(1), I(2), U(3), F(4), F(5), F(6));
        break;
      case kEmbedBackward:  // N T d V dx rowStart rowIdx dwte dwpe
        memo::embedding_backward(ctx, I(0), I(1), I(2), I(3), F(4), U(5), U(6), F(7), F(8));
        break;
      case kLayerNormForward:  // rows d eps x g b y stats
        memo::layernorm_forward(ctx, I(0), I(1), float(a[2]), F(3), F(4), F(5), F(6), F(7));
        break;
      case kLayerNormBackwardInput:  // rows d x g stats dy dx accumulate
        memo::layernorm_backward_input(ctx, I(0), I(1), F(2), F(3), F(4), F(5), F(6), B(7));
        break;
      case kLayerNormBackwardParams:  // rows d x stats dy dg db
        memo::layernorm_backward_params(ctx, I(0), I(1), F(2), F(3), F(4), F(5), F(6));
        break;
      case kMatmul: {  // M N K transA transB accumulate a b bias residual pre c rounding scratch
        memo::Matmul m{I(0), I(1), I(2), B(3), B(4), B(5), F(6), F(7), F(8), F(9), F(10), F(11), I(12), F(13)};
        memo::matmul(ctx, m);
        break;
      }
      case kGeluForward:  // n x y
        memo::gelu_forward(ctx, Z(0), F(1), F(2));
        break;
      case kGeluBackward:  // n x dy dx
        memo::gelu_backward(ctx, Z(0), F(1), F(2), F(3));
        break;
      case kAttentionForward:  // B T d H rounding qkv out probs
        memo::attention_forward(ctx, I(0), I(1), I(2), I(3), I(4), F(5), F(6), F(7));
        break;
      case kAttentionBackward:  // B T d H rounding qkv probs dout dscores dqkv
        memo::attention_backward(ctx, I(0), I(1), I(2), I(3), I(4), F(5), F(6), F(7), F(8), F(9));
        break;
      case kAttentionStep:  // B T pos d H rounding qkv kCache vCache out
        memo::attention_step(ctx, I(0), I(1), I(2), I(3), I(4), I(5), F(6), F(7), F(8), F(9));
        break;
      case kColumnSum:  // rows cols x out accumulate
        memo::column_sum(ctx, I(0), I(1), F(2), F(3), B(4));
        break;
      case kTotalSum:  // n x out square accumulate
        memo::total_sum(ctx, Z(0), F(1), F(2), B(3), B(4));
        break;
      case kSequenceBits:  // sequences T logp2 bits
        memo::sequence_bits(ctx, I(0), I(1), F(2), F(3));
        break;
      case kHead: {  // rows V d x w targets loss logp2 dx dw scale@ rounding work
        const float* scale = F(10);
        memo::Head h{I(0), I(1), I(2), F(3), F(4), U(5), F(6), F(7), F(8), F(9), scale ? *scale : 1.0f, I(11), F(12)};
        memo::head(ctx, h);
        break;
      }
      case kAdamW: {  // n decayEnd params grads m v normSq hyper@ roundParams; hyper = lr beta1 beta2 eps wd bc1 bc2 clip
        const float* hp = F(7);
        memo::Adam s{Z(0), Z(1), F(2), F(3), F(4), F(5), F(6), hp[0], hp[1], hp[2], hp[3], hp[4], hp[5], hp[6], hp[7], B(8)};
        memo::adamw(ctx, s);
        break;
      }
      case kZero: {  // at n
        float* x = F(0);
        const size_t count = Z(1);
        for (size_t i = 0; i < count; i++) x[i] = 0;
        break;
      }
      case kCopy: {  // from to n
        const float* from = F(0);
        float* to = F(1);
        const size_t count = Z(2);
        for (size_t i = 0; i < count; i++) to[i] = from[i];
        break;
      }
    }
    if (kProfile) {
      profileNs[op] += std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started).count();
      profileCalls[op]++;
    }
    at += 2 + n;
  }
}

#define CALL(env, call)                                     \
  do {                                                      \
    if ((call) != napi_ok) {                                \
      napi_throw_error(env, nullptr, "N-API call failed: " #call); \
      return nullptr;                                       \
    }                                                       \
  } while (0)

// Reads (arenas: Float32Array[], program: Float64Array, threads: number) into a Program, or throws.
bool read_args(napi_env env, napi_callback_info info, Program& p, napi_value* argv) {
  size_t argc = 3;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 3) {
    napi_throw_type_error(env, nullptr, "expected (arenas: Float32Array[], program: Float64Array, threads: number)");
    return false;
  }
  napi_typedarray_type type;
  size_t length;
  void* data;
  napi_value buffer;
  size_t offset;
  bool is;
  uint32_t count = 0;
  if (napi_is_array(env, argv[0], &is) != napi_ok || !is || napi_get_array_length(env, argv[0], &count) != napi_ok || count < 1 || count > kMaxArenas) {
    napi_throw_type_error(env, nullptr, "arenas must be an array of 1 to 4 Float32Arrays");
    return false;
  }
  p.arenaCount = int(count);
  for (uint32_t i = 0; i < count; i++) {
    napi_value el;
    if (napi_get_element(env, argv[0], i, &el) != napi_ok || napi_is_typedarray(env, el, &is) != napi_ok || !is ||
        napi_get_typedarray_info(env, el, &type, &length, &data, &buffer, &offset) != napi_ok || type != napi_float32_array) {
      napi_throw_type_error(env, nullptr, "arenas must be an array of Float32Arrays");
      return false;
    }
    p.arenas[i] = static_cast<float*>(data);
    p.arenaFloats[i] = length;
  }
  if (napi_is_typedarray(env, argv[1], &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, argv[1], &type, &length, &data, &buffer, &offset) != napi_ok || type != napi_float64_array) {
    napi_throw_type_error(env, nullptr, "program must be a Float64Array");
    return false;
  }
  p.code = static_cast<const double*>(data);
  p.codeLength = length;
  int32_t threads = 1;
  if (napi_get_value_int32(env, argv[2], &threads) != napi_ok || threads < 1) {
    napi_throw_range_error(env, nullptr, "threads must be a positive integer");
    return false;
  }
  p.threads = threads;
  const std::string bad = check(p);
  if (!bad.empty()) {
    napi_throw_error(env, nullptr, bad.c_str());
    return false;
  }
  return true;
}

napi_value Run(napi_env env, napi_callback_info info) {
  Program p;
  napi_value argv[3];
  if (!read_args(env, info, p, argv)) return nullptr;
  execute(p);
  return nullptr;
}

struct AsyncRun {
  Program program;
  napi_ref arenas, code;
  napi_deferred deferred;
  napi_async_work work;
};

void ExecuteAsync(napi_env, void* data) { execute(static_cast<AsyncRun*>(data)->program); }

void CompleteAsync(napi_env env, napi_status status, void* data) {
  auto* job = static_cast<AsyncRun*>(data);
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  if (status == napi_ok) napi_resolve_deferred(env, job->deferred, undefined);
  else {
    napi_value msg, err;
    napi_create_string_utf8(env, "native program was cancelled", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, nullptr, msg, &err);
    napi_reject_deferred(env, job->deferred, err);
  }
  napi_delete_reference(env, job->arenas);
  napi_delete_reference(env, job->code);
  napi_delete_async_work(env, job->work);
  delete job;
}

napi_value RunAsync(napi_env env, napi_callback_info info) {
  auto* job = new AsyncRun();
  napi_value argv[3];
  if (!read_args(env, info, job->program, argv)) {
    delete job;
    return nullptr;
  }
  napi_value promise, name;
  CALL(env, napi_create_promise(env, &job->deferred, &promise));
  // The arena and the program stay alive (and are not touched by JS: the caller awaits) until completion.
  CALL(env, napi_create_reference(env, argv[0], 1, &job->arenas));
  CALL(env, napi_create_reference(env, argv[1], 1, &job->code));
  CALL(env, napi_create_string_utf8(env, "memorize.cpu.run", NAPI_AUTO_LENGTH, &name));
  CALL(env, napi_create_async_work(env, nullptr, name, ExecuteAsync, CompleteAsync, job, &job->work));
  CALL(env, napi_queue_async_work(env, job->work));
  return promise;
}

// headWork(V, d, train): floats of scratch the fused head needs.
napi_value HeadWork(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CALL(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  int32_t V = 0, d = 0;
  bool train = false;
  if (argc < 3 || napi_get_value_int32(env, argv[0], &V) != napi_ok || napi_get_value_int32(env, argv[1], &d) != napi_ok ||
      napi_get_value_bool(env, argv[2], &train) != napi_ok) {
    napi_throw_type_error(env, nullptr, "expected (V: number, d: number, train: boolean)");
    return nullptr;
  }
  napi_value out;
  CALL(env, napi_create_double(env, double(memo::head_work_floats(V, d, train)), &out));
  return out;
}

// quantize(logits: Float32Array, rows, V, P, cum: Int32Array, stats: Float64Array, threads) → −1 or the first refused row (quantize.h).
napi_value Quantize(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CALL(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  int32_t rows = 0, V = 0, P = 0, threads = 0;
  void* data[3] = {nullptr, nullptr, nullptr};
  size_t length[3] = {0, 0, 0};
  const napi_typedarray_type want[3] = {napi_float32_array, napi_int32_array, napi_float64_array};
  const int at[3] = {0, 4, 5};
  bool ok = argc >= 7 && napi_get_value_int32(env, argv[1], &rows) == napi_ok && napi_get_value_int32(env, argv[2], &V) == napi_ok &&
            napi_get_value_int32(env, argv[3], &P) == napi_ok && napi_get_value_int32(env, argv[6], &threads) == napi_ok;
  for (int k = 0; ok && k < 3; k++) {
    bool is = false;
    napi_typedarray_type type;
    napi_value buffer;
    size_t offset;
    ok = napi_is_typedarray(env, argv[at[k]], &is) == napi_ok && is &&
         napi_get_typedarray_info(env, argv[at[k]], &type, &length[k], &data[k], &buffer, &offset) == napi_ok && type == want[k];
  }
  if (!ok) {
    napi_throw_type_error(env, nullptr, "expected (logits: Float32Array, rows, V, P, cum: Int32Array, stats: Float64Array, threads)");
    return nullptr;
  }
  // The budget 2^P − V must be positive and every ⌊p·budget⌋ an int32.
  if (rows < 0 || V < 1 || P < 1 || P > 30 || (int64_t(1) << P) <= V || threads < 1 || length[0] < size_t(rows) * V ||
      length[1] < size_t(rows) * (V + 1) || length[2] < size_t(rows) * 2) {
    napi_throw_range_error(env, nullptr, "quantize: sizes out of range (rows, V, P, buffers)");
    return nullptr;
  }
  const int bad = memo::quantize_rows(static_cast<const float*>(data[0]), rows, V, P, static_cast<int32_t*>(data[1]),
                                      static_cast<double*>(data[2]), threads);
  napi_value out;
  CALL(env, napi_create_int32(env, bad, &out));
  return out;
}

napi_value Info(napi_env env, napi_callback_info) {
  napi_value out, v;
  CALL(env, napi_create_object(env, &out));
  CALL(env, napi_create_int32(env, omp_get_num_procs(), &v));
  CALL(env, napi_set_named_property(env, out, "cores", v));
  CALL(env, napi_create_string_utf8(env, openblas_get_config(), NAPI_AUTO_LENGTH, &v));
  CALL(env, napi_set_named_property(env, out, "blas", v));
  CALL(env, napi_create_int32(env, openblas_get_num_threads(), &v));
  CALL(env, napi_set_named_property(env, out, "blasThreads", v));
  napi_value prof;
  CALL(env, napi_create_array(env, &prof));
  for (int i = 0; i <= kLastOp; i++) {
    CALL(env, napi_create_double(env, double(profileNs[i].load()) / 1e6, &v));
    CALL(env, napi_set_element(env, prof, i, v));
  }
  CALL(env, napi_set_named_property(env, out, "profileMs", prof));
  return out;
}

napi_value Init(napi_env env, napi_value exports) {
  // All parallelism is ours (fixed GEMM blocks over OpenMP threads): BLAS calls are single-threaded.
  openblas_set_num_threads(1);
  napi_property_descriptor props[] = {
      {"run", nullptr, Run, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"runAsync", nullptr, RunAsync, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"info", nullptr, Info, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"headWork", nullptr, HeadWork, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"quantize", nullptr, Quantize, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
