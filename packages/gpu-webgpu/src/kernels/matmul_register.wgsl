// C[M,N] = op(A)[M,K] · op(B)[K,N] (+ bias[N]) (+ R[M,N]) (+ C when accumulating),
// optionally followed by GELU (pre-activation kept in PRE for the backward pass).
// Register tiling: each invocation computes a TM×TN block, operands read straight
// from storage (fast on CPU adapters such as lavapipe, where workgroup barriers are slow).
// Operands go through rnd() (bf16 / fp16 autocast); accumulation is f32.
{{ENABLE}}
// kc: K per split (split-K: workgroup z takes k in [z·kc, (z+1)·kc) and writes its
// partial product to C[z·M·N ..]; kc = K when not split).
struct Params { M: u32, N: u32, K: u32, kc: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read> R: array<f32>;
@group(0) @binding(6) var<storage, read_write> PRE: array<f32>;

{{ROUND}}
{{GELU}}

const TM = {{TM}}u;
const TN = {{TN}}u;

// A is stored [M,K], or [K,M] when transposed; B is stored [K,N], or [N,K] when transposed.
fn loadA(i: u32, k: u32) -> f32 { return {{LOAD_A}}; }
fn loadB(k: u32, j: u32) -> f32 { return {{LOAD_B}}; }

var<private> cbase: u32;

fn store(i: u32, j: u32, acc: f32) {
  let idx = i * p.N + j;
  var v = acc;
  {{EPILOGUE}}
}

@compute @workgroup_size({{WX}}, {{WY}}, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let row0 = gid.y * TM;
  let col0 = gid.x * TN;
  if (row0 >= p.M || col0 >= p.N) { return; }
  cbase = gid.z * p.M * p.N;
  let kEnd = min(p.K, (gid.z + 1u) * p.kc);
  var acc: array<array<f32, TN>, TM>;
  for (var i = 0u; i < TM; i++) { for (var j = 0u; j < TN; j++) { acc[i][j] = 0.0; } }
  let lastRow = p.M - 1u;
  let lastCol = p.N - 1u;
  for (var k = gid.z * p.kc; k < kEnd; k++) {
    var a: array<f32, TM>;
    var b: array<f32, TN>;
    for (var i = 0u; i < TM; i++) { a[i] = rnd(loadA(min(row0 + i, lastRow), k)); }
    for (var j = 0u; j < TN; j++) { b[j] = rnd(loadB(k, min(col0 + j, lastCol))); }
    for (var i = 0u; i < TM; i++) {
      for (var j = 0u; j < TN; j++) { acc[i][j] = fma(a[i], b[j], acc[i][j]); }
    }
  }
  for (var i = 0u; i < TM; i++) {
    for (var j = 0u; j < TN; j++) {
      if (row0 + i < p.M && col0 + j < p.N) { store(row0 + i, col0 + j, acc[i][j]); }
    }
  }
}
