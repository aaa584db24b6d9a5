// Fused softmax + cross-entropy, one workgroup of 256 per row (token position):
// loss in nats, log2 p(target), and (when training) the gradient
// (softmax − onehot)·scale written over the logits. Rows whose target is
// 0xffffffff (nothing to predict) give zero loss and zero gradient.
// Max and Σ exp: each invocation over a strided slice of the row (coalesced),
// then a fixed tree in workgroup memory (deterministic, no subgroups).
// seq_bits: per-sequence code length in bits, −Σ_t log2 p.
struct Params { rows: u32, V: u32, scale: f32, writeGrad: u32, T: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> LOGITS: array<f32>;
@group(0) @binding(2) var<storage, read> TARGETS: array<u32>;
@group(0) @binding(3) var<storage, read_write> LOSS: array<f32>;
@group(0) @binding(4) var<storage, read_write> LOGP2: array<f32>;
@group(0) @binding(5) var<storage, read_write> BITS: array<f32>;

fn flat(gid: vec3u, nwg: vec3u) -> u32 { return gid.x + gid.y * nwg.x * 64u; }

const WG = 256u;
var<workgroup> red: array<f32, WG>;

// Fixed-order tree over red[]; every invocation returns the result (read before the
// closing barrier, so red[] may be reused after it).
fn tree_max(l: u32) -> f32 {
  for (var w = WG / 2u; w > 0u; w >>= 1u) {
    if (l < w) { red[l] = max(red[l], red[l + w]); }
    workgroupBarrier();
  }
  let v = red[0];
  workgroupBarrier();
  return v;
}
fn tree_sum(l: u32) -> f32 {
  for (var w = WG / 2u; w > 0u; w >>= 1u) {
    if (l < w) { red[l] += red[l + w]; }
    workgroupBarrier();
  }
  let v = red[0];
  workgroupBarrier();
  return v;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let r = wg.x + wg.y * nwg.x;
  if (r >= p.rows) { return; }
  let l = lid.x;
  let o = r * p.V;
  var mx = -3.0e38;
  for (var v = l; v < p.V; v += WG) { mx = max(mx, LOGITS[o + v]); }
  red[l] = mx;
  workgroupBarrier();
  mx = tree_max(l);
  var z = 0.0;
  for (var v = l; v < p.V; v += WG) { z += exp(LOGITS[o + v] - mx); }
  red[l] = z;
  workgroupBarrier();
  z = tree_sum(l);
  let lse = mx + log(z);
  let t = TARGETS[r];
  let none = t == 0xffffffffu;
  if (l == 0u) {
    var loss = 0.0;
    if (!none) { loss = lse - LOGITS[o + t]; }
    LOSS[r] = loss;
    LOGP2[r] = -loss * 1.4426950408889634;
  }
  // The target's logit is read (above, by invocation 0) before any invocation overwrites the row.
  workgroupBarrier();
  if (p.writeGrad != 0u) {
    for (var v = l; v < p.V; v += WG) {
      var g = 0.0;
      if (!none) {
        g = exp(LOGITS[o + v] - lse);
        if (v == t) { g -= 1.0; }
      }
      LOGITS[o + v] = g * p.scale;
    }
  }
}

@compute @workgroup_size(64)
fn seq_bits(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let b = flat(gid, nwg);
  if (b * p.T >= p.rows) { return; }
  var s = 0.0;
  for (var t = 0u; t < p.T; t++) { s -= LOGP2[b * p.T + t]; }
  BITS[b] = s;
}
