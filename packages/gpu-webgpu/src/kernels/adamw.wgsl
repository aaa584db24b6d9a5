// One AdamW step over every parameter in one dispatch (all parameters live in
// one flat buffer). Gradients are first scaled by min(1, clip/‖g‖) (global
// norm clipping; ‖g‖² comes from reduce.wgsl). Decoupled weight decay applies
// to elements below decayEnd (the weight matrices and embeddings, laid out first).
// ROUND_PARAMS (bf16-params): the updated parameter is stored rounded to bfloat16.
struct Params { n: u32, decayEnd: u32, lr: f32, beta1: f32, beta2: f32, eps: f32, wd: f32, bc1: f32, bc2: f32, clip: f32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> PARAM: array<f32>;
@group(0) @binding(2) var<storage, read> GRAD: array<f32>;
@group(0) @binding(3) var<storage, read_write> M: array<f32>;
@group(0) @binding(4) var<storage, read_write> VV: array<f32>;
@group(0) @binding(5) var<storage, read> NORMSQ: array<f32>;

{{ROUND}}
const ROUND_PARAMS = {{ROUND_PARAMS}};

fn flat(gid: vec3u, nwg: vec3u) -> u32 { return gid.x + gid.y * nwg.x * 256u; }

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat(gid, nwg);
  if (i >= p.n) { return; }
  var scale = 1.0;
  if (p.clip > 0.0) { scale = min(1.0, p.clip / (sqrt(NORMSQ[0]) + 1e-6)); }
  let g = GRAD[i] * scale;
  let m = p.beta1 * M[i] + (1.0 - p.beta1) * g;
  let v = p.beta2 * VV[i] + (1.0 - p.beta2) * g * g;
  M[i] = m;
  VV[i] = v;
  let upd = (m / p.bc1) / (sqrt(v / p.bc2) + p.eps);
  var wd = 0.0;
  if (i < p.decayEnd) { wd = p.wd; }
  var x = PARAM[i] - p.lr * (upd + wd * PARAM[i]);
  if (ROUND_PARAMS) { x = rnd(x); }
  PARAM[i] = x;
}
