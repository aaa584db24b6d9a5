// Fused softmax + cross-entropy, one invocation per row (token position):
// loss in nats, log2 p(target), and (when training) the gradient
// (softmax − onehot)·scale written over the logits. Rows whose target is
// 0xffffffff (nothing to predict) give zero loss and zero gradient.
// seq_bits: per-sequence code length in bits, −Σ_t log2 p.
struct Params { rows: u32, V: u32, scale: f32, writeGrad: u32, T: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> LOGITS: array<f32>;
@group(0) @binding(2) var<storage, read> TARGETS: array<u32>;
@group(0) @binding(3) var<storage, read_write> LOSS: array<f32>;
@group(0) @binding(4) var<storage, read_write> LOGP2: array<f32>;
@group(0) @binding(5) var<storage, read_write> BITS: array<f32>;

fn flat(gid: vec3u, nwg: vec3u) -> u32 { return gid.x + gid.y * nwg.x * 64u; }

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = flat(gid, nwg);
  if (r >= p.rows) { return; }
  let o = r * p.V;
  let t = TARGETS[r];
  if (t == 0xffffffffu) {
    LOSS[r] = 0.0;
    LOGP2[r] = 0.0;
    if (p.writeGrad != 0u) { for (var v = 0u; v < p.V; v++) { LOGITS[o + v] = 0.0; } }
    return;
  }
  var mx = -3.0e38;
  for (var v = 0u; v < p.V; v++) { mx = max(mx, LOGITS[o + v]); }
  var z = 0.0;
  for (var v = 0u; v < p.V; v++) { z += exp(LOGITS[o + v] - mx); }
  let lse = mx + log(z);
  let loss = lse - LOGITS[o + t];
  LOSS[r] = loss;
  LOGP2[r] = -loss * 1.4426950408889634;
  if (p.writeGrad != 0u) {
    for (var v = 0u; v < p.V; v++) {
      var g = exp(LOGITS[o + v] - lse);
      if (v == t) { g -= 1.0; }
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
