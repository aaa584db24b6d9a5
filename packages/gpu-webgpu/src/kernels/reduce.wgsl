// Deterministic reductions (fixed order, no atomics):
//   colsum_partial: PART[b, c] = Σ_{r in row block b} X[r, c]   (bias gradients, first pass)
//   reduce_slices: OUT[o] (+)= Σ_s PART[s, o], s in order        (second pass of column sums,
//                  LayerNorm parameter gradients and split-K GEMMs; the STORE template says where v goes)
//   partial: PART[g] = Σ over a strided slice of X (of X² when SQUARE)
//   final: OUT[0] (+)= Σ_g PART[g]             (one workgroup)
// rows/cols: X's shape (or slices × outputs for reduce_slices); block: rows per block;
// split: reduce_slices outputs from `split` on go to OUT2 (LayerNorm's dg | db).
struct Params { rows: u32, cols: u32, n: u32, accumulate: u32, block: u32, split: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> OUT: array<f32>;
@group(0) @binding(3) var<storage, read_write> PART: array<f32>;
@group(0) @binding(4) var<storage, read_write> OUT2: array<f32>;

const SQUARE = {{SQUARE}};
const GROUPS = {{GROUPS}}u;
// reduce_slices: a workgroup of 64 = OUTS outputs × LANES lanes; lane l sums slices l, l+LANES, …
const LANES = {{LANES}}u;
const OUTS = 64u / LANES;
var<workgroup> sh: array<f32, 256>;

fn flat(gid: vec3u, nwg: vec3u) -> u32 { return gid.x + gid.y * nwg.x * 64u; }

@compute @workgroup_size(64)
fn colsum_partial(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat(gid, nwg);
  let blocks = (p.rows + p.block - 1u) / p.block;
  if (i >= blocks * p.cols) { return; }
  let c = i % p.cols;
  let b = i / p.cols;
  let r1 = min(p.rows, (b + 1u) * p.block);
  var s = 0.0;
  for (var r = b * p.block; r < r1; r++) { s += X[r * p.cols + c]; }
  PART[i] = s;
}

@compute @workgroup_size(64)
fn reduce_slices(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let q = lid.x % OUTS;
  let lane = lid.x / OUTS;
  let o = (wg.x + wg.y * nwg.x) * OUTS + q;
  var s = 0.0;
  if (o < p.cols) {
    for (var k = lane; k < p.rows; k += LANES) { s += PART[k * p.cols + o]; }
  }
  sh[lid.x] = s;
  workgroupBarrier();
  for (var w = LANES / 2u; w > 0u; w >>= 1u) {
    if (lane < w) { sh[lid.x] += sh[lid.x + w * OUTS]; }
    workgroupBarrier();
  }
  if (lane == 0u && o < p.cols) {
    var v = sh[q];
    {{STORE}}
  }
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
