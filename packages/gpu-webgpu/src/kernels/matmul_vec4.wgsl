// Same contract as matmul_register.wgsl, for operands whose contiguous
// dimension is a multiple of 4: each invocation computes a 4×4 block of C
// from 4×4 blocks of A and B read as four vec4 loads each and multiplied
// as mat4x4 (16 vector FMAs per K step of 4). On CPU adapters this keeps
// the LLVM vectorizer busy (≈ the issue's "4×4 tile with vec4 loads").
// The block product is accumulated transposed: Cᵀ += Bᵀ·Aᵀ.
{{ENABLE}}
// kc: K per split (split-K: workgroup z takes k in [z·kc, (z+1)·kc) and writes its
// partial product to C[z·M·N ..]; kc = K when not split).
struct Params { M: u32, N: u32, K: u32, kc: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> B: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
@group(0) @binding(5) var<storage, read> R: array<f32>;
@group(0) @binding(6) var<storage, read_write> PRE: array<f32>;

{{ROUND}}
{{GELU}}

fn rnd4(v: vec4<f32>) -> vec4<f32> { return vec4<f32>(rnd(v.x), rnd(v.y), rnd(v.z), rnd(v.w)); }

// The four vec4s of A's block at (row i0, col k0): {{A_DOC}}
fn blockA(i0: u32, k0: u32) -> mat4x4<f32> {
  {{LOAD_A}}
}
// The four vec4s of B's block at (row k0, col j0): {{B_DOC}}
fn blockB(k0: u32, j0: u32) -> mat4x4<f32> {
  {{LOAD_B}}
}

var<private> cbase: u32;

fn store(i: u32, j: u32, acc: f32) {
  let idx = i * p.N + j;
  var v = acc;
  {{EPILOGUE}}
}

@compute @workgroup_size({{WX}}, {{WY}}, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i0 = gid.y * 4u;
  let j0 = gid.x * 4u;
  if (i0 >= p.M || j0 >= p.N) { return; }
  cbase = gid.z * p.M * p.N;
  let kEnd = min(p.K, (gid.z + 1u) * p.kc);
  var accT = mat4x4<f32>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
  for (var k0 = gid.z * p.kc; k0 < kEnd; k0 += 4u) {
    accT += {{PRODUCT}};
  }
  for (var ii = 0u; ii < 4u; ii++) {
    for (var jj = 0u; jj < 4u; jj++) {
      if (i0 + ii < p.M && j0 + jj < p.N) { store(i0 + ii, j0 + jj, accT[ii][jj]); }
    }
  }
}
