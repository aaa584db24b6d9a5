// Causal multi-head self-attention on packed qkv [B·T, 3d] ([q | k | v], heads
// contiguous inside each). Forward keeps the probabilities P [B,H,T,T];
// backward in two passes: per query row (dS and dq), then per key row (dk, dv).
// Every product's operands go through rnd() (autocast); sums are f32.
//
// Tiled: a workgroup owns QR rows of one (sequence, head) block, one row per
// invocation, and walks the rows it pairs with (keys for a query row, queries
// for a key row) in tiles of KT rows staged in workgroup memory, read from
// global memory once per workgroup, coalesced, instead of once per row.
// Every sum still runs over j (or i) ascending and e ascending, so a row's
// bits do not depend on the tiling.
struct Params { B: u32, T: u32, d: u32, H: u32, scale: f32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> QKV: array<f32>;
@group(0) @binding(2) var<storage, read_write> OUT: array<f32>;
@group(0) @binding(3) var<storage, read_write> P: array<f32>;
@group(0) @binding(4) var<storage, read> DOUT: array<f32>;
@group(0) @binding(5) var<storage, read_write> DS: array<f32>;
@group(0) @binding(6) var<storage, read_write> DQKV: array<f32>;

{{ROUND}}

const QR = 32u;      // rows per workgroup, one per invocation
const HD = {{HD}}u;  // head dimension d / H
const KT = {{KT}}u;  // rows per staged tile: KT · HD ≤ 4,096 floats (16 KiB; HD ≤ 1,024, attention.ts)
var<workgroup> tile: array<f32, KT * HD>;

// Base offsets of q/k/v for token row n and head h.
fn qo(n: u32, h: u32) -> u32 { return n * 3u * p.d + h * HD; }
fn ko(n: u32, h: u32) -> u32 { return qo(n, h) + p.d; }
fn vo(n: u32, h: u32) -> u32 { return qo(n, h) + 2u * p.d; }

// The workgroup's block: x = first row of its QR rows, y = b·H + h (the grid spills into y).
fn block(wid: vec3u, nwg: vec3u) -> vec2u {
  let w = wid.x + wid.y * nwg.x;
  let blocks = (p.T + QR - 1u) / QR;
  return vec2u((w % blocks) * QR, w / blocks);
}

// Stages rows [r0, min(r0 + KT, end)) of sequence b, head h: from qkv part
// `part` (0 q, 1 k, 2 v), or from the output gradient; operands rounded as
// they are used. Two functions, as an entry point must bind every array its
// callees name (the forward pass has no output gradient).
fn stage_qkv(b: u32, h: u32, part: u32, r0: u32, end: u32, l: u32) {
  workgroupBarrier();
  for (var x = l; x < KT * HD; x += QR) {
    let r = r0 + x / HD;
    if (r < end) { tile[x] = rnd(QKV[qo(b * p.T + r, h) + part * p.d + x % HD]); }
  }
  workgroupBarrier();
}

fn stage_dout(b: u32, h: u32, r0: u32, end: u32, l: u32) {
  workgroupBarrier();
  for (var x = l; x < KT * HD; x += QR) {
    let r = r0 + x / HD;
    if (r < end) { tile[x] = rnd(DOUT[(b * p.T + r) * p.d + h * HD + x % HD]); }
  }
  workgroupBarrier();
}

// v · (tile row t), over e ascending.
fn tile_dot(v: ptr<function, array<f32, HD>>, t: u32) -> f32 {
  var s = 0.0;
  for (var e = 0u; e < HD; e++) { s = fma((*v)[e], tile[t * HD + e], s); }
  return s;
}

// acc += w · (tile row t), each e its own sum.
fn tile_axpy(acc: ptr<function, array<f32, HD>>, w: f32, t: u32) {
  for (var e = 0u; e < HD; e++) { (*acc)[e] = fma(w, tile[t * HD + e], (*acc)[e]); }
}

@compute @workgroup_size(32)
fn forward(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) l: u32) {
  let blk = block(wid, nwg);
  if (blk.y >= p.B * p.H) { return; }
  let b = blk.y / p.H;
  let h = blk.y % p.H;
  let live = blk.x + l < p.T;
  let i = min(blk.x + l, p.T - 1u);
  let end = min(p.T, blk.x + QR); // keys any row of the block sees: [0, end)
  let row = (blk.y * p.T + i) * p.T; // P[b,h,i,:]
  let ni = b * p.T + i;
  var q: array<f32, HD>;
  for (var e = 0u; e < HD; e++) { q[e] = rnd(QKV[qo(ni, h) + e]); }
  var mx = -3.0e38;
  for (var j0 = 0u; j0 < end; j0 += KT) {
    stage_qkv(b, h, 1u, j0, end, l);
    if (live) {
      for (var j = j0; j < min(j0 + KT, i + 1u); j++) {
        let s = tile_dot(&q, j - j0) * p.scale;
        P[row + j] = s;
        mx = max(mx, s);
      }
    }
  }
  if (live) {
    var z = 0.0;
    for (var j = 0u; j <= i; j++) { let w = exp(P[row + j] - mx); P[row + j] = w; z += w; }
    for (var j = 0u; j < p.T; j++) {
      if (j <= i) { P[row + j] = P[row + j] / z; } else { P[row + j] = 0.0; }
    }
  }
  var acc: array<f32, HD>;
  for (var j0 = 0u; j0 < end; j0 += KT) {
    stage_qkv(b, h, 2u, j0, end, l);
    if (live) {
      for (var j = j0; j < min(j0 + KT, i + 1u); j++) {
        tile_axpy(&acc, rnd(P[row + j]), j - j0);
      }
    }
  }
  if (live) {
    for (var e = 0u; e < HD; e++) { OUT[ni * p.d + h * HD + e] = acc[e]; }
  }
}

@compute @workgroup_size(32)
fn backward_query(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) l: u32) {
  let blk = block(wid, nwg);
  if (blk.y >= p.B * p.H) { return; }
  let b = blk.y / p.H;
  let h = blk.y % p.H;
  let live = blk.x + l < p.T;
  let i = min(blk.x + l, p.T - 1u);
  let end = min(p.T, blk.x + QR);
  let row = (blk.y * p.T + i) * p.T;
  let ni = b * p.T + i;
  var g: array<f32, HD>;
  for (var e = 0u; e < HD; e++) { g[e] = rnd(DOUT[ni * p.d + h * HD + e]); }
  // dP_j = dout_i · v_j, then dS_j = P_j (dP_j − Σ_k P_k dP_k) · scale
  var D = 0.0;
  for (var j0 = 0u; j0 < end; j0 += KT) {
    stage_qkv(b, h, 2u, j0, end, l);
    if (live) {
      for (var j = j0; j < min(j0 + KT, i + 1u); j++) {
        let s = tile_dot(&g, j - j0);
        DS[row + j] = s;
        D += P[row + j] * s;
      }
    }
  }
  if (live) {
    for (var j = 0u; j < p.T; j++) {
      if (j <= i) { DS[row + j] = P[row + j] * (DS[row + j] - D) * p.scale; } else { DS[row + j] = 0.0; }
    }
  }
  var acc: array<f32, HD>;
  for (var j0 = 0u; j0 < end; j0 += KT) {
    stage_qkv(b, h, 1u, j0, end, l);
    if (live) {
      for (var j = j0; j < min(j0 + KT, i + 1u); j++) {
        tile_axpy(&acc, rnd(DS[row + j]), j - j0);
      }
    }
  }
  if (live) {
    for (var e = 0u; e < HD; e++) { DQKV[qo(ni, h) + e] = acc[e]; }
  }
}

@compute @workgroup_size(32)
fn backward_key(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) l: u32) {
  let blk = block(wid, nwg);
  if (blk.y >= p.B * p.H) { return; }
  let b = blk.y / p.H;
  let h = blk.y % p.H;
  let live = blk.x + l < p.T;
  let j = min(blk.x + l, p.T - 1u);
  let base = blk.y * p.T * p.T; // P[b,h,0,0]
  let nj = b * p.T + j;
  // Query rows i ≥ j: the block's rows see queries from its first row on.
  var dk: array<f32, HD>;
  var dv: array<f32, HD>;
  for (var i0 = blk.x; i0 < p.T; i0 += KT) {
    stage_qkv(b, h, 0u, i0, p.T, l);
    if (live) {
      for (var i = max(i0, j); i < min(i0 + KT, p.T); i++) {
        tile_axpy(&dk, rnd(DS[base + i * p.T + j]), i - i0);
      }
    }
    stage_dout(b, h, i0, p.T, l);
    if (live) {
      for (var i = max(i0, j); i < min(i0 + KT, p.T); i++) {
        tile_axpy(&dv, rnd(P[base + i * p.T + j]), i - i0);
      }
    }
  }
  if (live) {
    for (var e = 0u; e < HD; e++) {
      DQKV[ko(nj, h) + e] = dk[e];
      DQKV[vo(nj, h) + e] = dv[e];
    }
  }
}
