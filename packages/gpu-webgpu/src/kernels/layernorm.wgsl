// LayerNorm over rows of width d: forward (keeps mean and 1/std per row),
// backward to the input (optionally accumulated into DX: the residual stream),
// and the first pass of the gain and bias gradients (row blocks × columns).
struct Params { rows: u32, d: u32, eps: f32, accumulate: u32, block: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read> Beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;
@group(0) @binding(5) var<storage, read_write> STATS: array<f32>;
@group(0) @binding(6) var<storage, read> DY: array<f32>;
@group(0) @binding(7) var<storage, read_write> DX: array<f32>;
@group(0) @binding(10) var<storage, read_write> PART: array<f32>;

fn flat(gid: vec3u, nwg: vec3u) -> u32 { return gid.x + gid.y * nwg.x * 64u; }

// forward and backward_input: a workgroup of LW invocations per row, each over a
// strided slice of the row; row sums by a fixed tree in workgroup memory.
const LW = 32u;
var<workgroup> red: array<f32, 64>;

// (Σ a, Σ b) over the row's invocations, returned to all of them.
fn row_sum2(l: u32, a: f32, b: f32) -> vec2<f32> {
  red[l] = a;
  red[LW + l] = b;
  workgroupBarrier();
  for (var w = LW / 2u; w > 0u; w >>= 1u) {
    if (l < w) {
      red[l] += red[l + w];
      red[LW + l] += red[LW + l + w];
    }
    workgroupBarrier();
  }
  let v = vec2<f32>(red[0], red[LW]);
  workgroupBarrier();
  return v;
}

@compute @workgroup_size(32)
fn forward(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let r = wg.x + wg.y * nwg.x;
  if (r >= p.rows) { return; }
  let l = lid.x;
  let o = r * p.d;
  var m = 0.0;
  for (var j = l; j < p.d; j += LW) { m += X[o + j]; }
  m = row_sum2(l, m, 0.0).x / f32(p.d);
  var v = 0.0;
  for (var j = l; j < p.d; j += LW) { let c = X[o + j] - m; v += c * c; }
  v = row_sum2(l, v, 0.0).x / f32(p.d);
  let s = inverseSqrt(v + p.eps);
  if (l == 0u) {
    STATS[2u * r] = m;
    STATS[2u * r + 1u] = s;
  }
  for (var j = l; j < p.d; j += LW) { Y[o + j] = (X[o + j] - m) * s * G[j] + Beta[j]; }
}

@compute @workgroup_size(32)
fn backward_input(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let r = wg.x + wg.y * nwg.x;
  if (r >= p.rows) { return; }
  let l = lid.x;
  let o = r * p.d;
  let m = STATS[2u * r];
  let s = STATS[2u * r + 1u];
  var a = 0.0;
  var b = 0.0;
  for (var j = l; j < p.d; j += LW) {
    let dxh = DY[o + j] * G[j];
    a += dxh;
    b += dxh * (X[o + j] - m) * s;
  }
  let ab = row_sum2(l, a, b) / f32(p.d);
  for (var j = l; j < p.d; j += LW) {
    let xh = (X[o + j] - m) * s;
    var v = s * (DY[o + j] * G[j] - ab.x - xh * ab.y);
    if (p.accumulate != 0u) { v += DX[o + j]; }
    DX[o + j] = v;
  }
}

// First pass of the gain/bias gradients: invocation (row block b, column j) writes
// PART[b, j] = Σ dy·x̂ and PART[b, d + j] = Σ dy over its rows; reduce.wgsl's
// reduce_slices adds the blocks in order into DG / DB.
@compute @workgroup_size(64)
fn backward_params_partial(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat(gid, nwg);
  let blocks = (p.rows + p.block - 1u) / p.block;
  if (i >= blocks * p.d) { return; }
  let j = i % p.d;
  let b = i / p.d;
  let r1 = min(p.rows, (b + 1u) * p.block);
  var dg = 0.0;
  var db = 0.0;
  for (var r = b * p.block; r < r1; r++) {
    let dy = DY[r * p.d + j];
    dg += dy * (X[r * p.d + j] - STATS[2u * r]) * STATS[2u * r + 1u];
    db += dy;
  }
  PART[2u * b * p.d + j] = dg;
  PART[2u * b * p.d + p.d + j] = db;
}
