// Deterministic reductions (fixed order, no atomics):
//   colsum: OUT[c] += Σ_r X[r, c]            (bias gradients)
//   partial: PART[g] = Σ over a strided slice of X (of X² when SQUARE)
//   final: OUT[0] (+)= Σ_g PART[g]             (one workgroup)
struct Params { rows: u32, cols: u32, n: u32, accumulate: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> OUT: array<f32>;
@group(0) @binding(3) var<storage, read_write> PART: array<f32>;

const SQUARE = {{SQUARE}};
const GROUPS = {{GROUPS}}u;
var<workgroup> sh: array<f32, 256>;

@compute @workgroup_size(64)
fn colsum(@builtin(global_invocation_id) gid: vec3u) {
  let c = gid.x;
  if (c >= p.cols) { return; }
  var s = 0.0;
  for (var r = 0u; r < p.rows; r++) { s += X[r * p.cols + c]; }
  if (p.accumulate != 0u) { s += OUT[c]; }
  OUT[c] = s;
}

fn tree(l: u32) {
  for (var w = 128u; w > 0u; w >>= 1u) {
    if (l < w) { sh[l] += sh[l + w]; }
    workgroupBarrier();
  }
}

@compute @workgroup_size(256)
fn partial(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  var s = 0.0;
  for (var i = wg.x * 256u + lid.x; i < p.n; i += GROUPS * 256u) {
    let x = X[i];
    if (SQUARE) { s += x * x; } else { s += x; }
  }
  sh[lid.x] = s;
  workgroupBarrier();
  tree(lid.x);
  if (lid.x == 0u) { PART[wg.x] = sh[0]; }
}

@compute @workgroup_size(256)
fn final_sum(@builtin(local_invocation_id) lid: vec3u) {
  var s = 0.0;
  for (var i = lid.x; i < GROUPS; i += 256u) { s += PART[i]; }
  sh[lid.x] = s;
  workgroupBarrier();
  tree(lid.x);
  if (lid.x == 0u) {
    var v = sh[0];
    if (p.accumulate != 0u) { v += OUT[0]; }
    OUT[0] = v;
  }
}
