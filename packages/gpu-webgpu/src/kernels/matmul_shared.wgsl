// Same contract as matmul_register.wgsl, tiled through workgroup memory:
// a (WY·TM)×(WX·TN) block of C per workgroup, K consumed BK at a time, each
// invocation accumulating a TM×TN register tile. Wins on real GPUs.
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
const WX = {{WX}}u;
const WY = {{WY}}u;
const BM = WY * TM;
const BN = WX * TN;
const BK = {{BK}}u;
const THREADS = WX * WY;

var<workgroup> As: array<f32, BM * BK>;
var<workgroup> Bs: array<f32, BK * BN>;

fn loadA(i: u32, k: u32) -> f32 { return {{LOAD_A}}; }
fn loadB(k: u32, j: u32) -> f32 { return {{LOAD_B}}; }

var<private> cbase: u32;

fn store(i: u32, j: u32, acc: f32) {
  let idx = i * p.N + j;
  var v = acc;
  {{EPILOGUE}}
}

@compute @workgroup_size({{WX}}, {{WY}}, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let blockRow = wg.y * BM;
  let blockCol = wg.x * BN;
  let t = lid.y * WX + lid.x;
  cbase = wg.z * p.M * p.N;
  let kEnd = min(p.K, (wg.z + 1u) * p.kc);
  var acc: array<array<f32, TN>, TM>;
  for (var i = 0u; i < TM; i++) { for (var j = 0u; j < TN; j++) { acc[i][j] = 0.0; } }
  for (var k0 = wg.z * p.kc; k0 < kEnd; k0 += BK) {
    for (var e = t; e < BM * BK; e += THREADS) {
      let i = blockRow + e / BK;
      let k = k0 + e % BK;
      var v = 0.0;
      if (i < p.M && k < kEnd) { v = rnd(loadA(i, k)); }
      As[e] = v;
    }
    for (var e = t; e < BK * BN; e += THREADS) {
      let k = k0 + e / BN;
      let j = blockCol + e % BN;
      var v = 0.0;
      if (k < kEnd && j < p.N) { v = rnd(loadB(k, j)); }
      Bs[e] = v;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < BK; kk++) {
      var a: array<f32, TM>;
      var b: array<f32, TN>;
      for (var i = 0u; i < TM; i++) { a[i] = As[(lid.y * TM + i) * BK + kk]; }
      for (var j = 0u; j < TN; j++) { b[j] = Bs[kk * BN + lid.x * TN + j]; }
      for (var i = 0u; i < TM; i++) {
        for (var j = 0u; j < TN; j++) { acc[i][j] = fma(a[i], b[j], acc[i][j]); }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < TM; i++) {
    for (var j = 0u; j < TN; j++) {
      let r = blockRow + lid.y * TM + i;
      let c = blockCol + lid.x * TN + j;
      if (r < p.M && c < p.N) { store(r, c, acc[i][j]); }
    }
  }
}
