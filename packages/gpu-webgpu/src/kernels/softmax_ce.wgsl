// Fused softmax + cross-entropy, one workgroup of 256 per row (token position):
// loss in nats, log2 p(target), and (when training) the gradient
// (softmax − onehot)·scale written over the logits. Rows whose target is
// 0xffffffff (nothing to predict) give zero loss and zero gradient.
// One pass over the row: each invocation keeps a running (max, Σ exp) over a
// strided slice (coalesced), then one fixed tree in workgroup memory merges
// the pairs (deterministic, no subgroups). Rows up to 4,096 logits wide stay
// in each invocation's private memory (CACHE values each, set per V by
// softmax-ce.ts), so the row is read once and written once; wider rows (large
// vocabularies) are read again for the gradient.
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
// Row values each invocation holds in registers: ceil(V / WG), or 0 when the row is streamed (set per V).
const CACHE = {{CACHE}}u;
var<workgroup> red_m: array<f32, WG>;
var<workgroup> red_s: array<f32, WG>;

// Running (max m, Σ exp(x − m)) with one more value x: one exp per value.
fn push(a: vec2f, x: f32) -> vec2f {
  if (x > a.x) { return vec2f(x, a.y * exp(a.x - x) + 1.0); }
  return vec2f(a.x, a.y + exp(x - a.x));
}
// Two running pairs as one: the larger max, the other sum rescaled to it.
fn merge(a: vec2f, b: vec2f) -> vec2f {
  let m = max(a.x, b.x);
  return vec2f(m, a.y * exp(a.x - m) + b.y * exp(b.x - m));
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let r = wg.x + wg.y * nwg.x;
  if (r >= p.rows) { return; }
  let l = lid.x;
  let o = r * p.V;
  var row: array<f32, {{CACHE_SLOTS}}>;
  var acc = vec2f(-3.0e38, 0.0);
  if (CACHE > 0u) {
    for (var k = 0u; k < CACHE; k++) {
      let v = l + k * WG;
      if (v < p.V) {
        row[k] = LOGITS[o + v];
        acc = push(acc, row[k]);
      }
    }
  } else {
    for (var v = l; v < p.V; v += WG) { acc = push(acc, LOGITS[o + v]); }
  }
  red_m[l] = acc.x;
  red_s[l] = acc.y;
  workgroupBarrier();
  for (var w = WG / 2u; w > 0u; w >>= 1u) {
    if (l < w) {
      let m = merge(vec2f(red_m[l], red_s[l]), vec2f(red_m[l + w], red_s[l + w]));
      red_m[l] = m.x;
      red_s[l] = m.y;
    }
    workgroupBarrier();
  }
  let lse = red_m[0] + log(red_s[0]);
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
    if (CACHE > 0u) {
      for (var k = 0u; k < CACHE; k++) {
        let v = l + k * WG;
        if (v < p.V) { LOGITS[o + v] = grad(row[k], v, t, none, lse); }
      }
    } else {
      for (var v = l; v < p.V; v += WG) { LOGITS[o + v] = grad(LOGITS[o + v], v, t, none, lse); }
    }
  }
}

// (softmax − onehot)·scale at logit x of vocabulary entry v.
fn grad(x: f32, v: u32, t: u32, none: bool, lse: f32) -> f32 {
  if (none) { return 0.0; }
  var g = exp(x - lse);
  if (v == t) { g -= 1.0; }
  return g * p.scale;
}

@compute @workgroup_size(64)
fn seq_bits(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let b = flat(gid, nwg);
  if (b * p.T >= p.rows) { return; }
  var s = 0.0;
  for (var t = 0u; t < p.T; t++) { s -= LOGP2[b * p.T + t]; }
  BITS[b] = s;
}
