// Causal multi-head self-attention on packed qkv [B·T, 3d] ([q | k | v], heads
// contiguous inside each). Forward keeps the probabilities P [B,H,T,T];
// backward in two passes: per query row (dS and dq), then per key row (dk, dv).
// Every product's operands go through rnd() (autocast); sums are f32.
struct Params { B: u32, T: u32, d: u32, H: u32, scale: f32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> QKV: array<f32>;
@group(0) @binding(2) var<storage, read_write> OUT: array<f32>;
@group(0) @binding(3) var<storage, read_write> P: array<f32>;
@group(0) @binding(4) var<storage, read> DOUT: array<f32>;
@group(0) @binding(5) var<storage, read_write> DS: array<f32>;
@group(0) @binding(6) var<storage, read_write> DQKV: array<f32>;

{{ROUND}}

fn flat(gid: vec3u, nwg: vec3u) -> u32 { return gid.x + gid.y * nwg.x * 32u; }

// Base offsets of q/k/v for token row n and head h.
fn qo(n: u32, h: u32) -> u32 { return n * 3u * p.d + h * (p.d / p.H); }
fn ko(n: u32, h: u32) -> u32 { return qo(n, h) + p.d; }
fn vo(n: u32, h: u32) -> u32 { return qo(n, h) + 2u * p.d; }

@compute @workgroup_size(32)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = flat(gid, nwg);
  if (idx >= p.B * p.H * p.T) { return; }
  let i = idx % p.T;
  let h = (idx / p.T) % p.H;
  let b = idx / (p.T * p.H);
  let hd = p.d / p.H;
  let row = idx * p.T; // P[b,h,i,:]
  let ni = b * p.T + i;
  var mx = -3.0e38;
  for (var j = 0u; j <= i; j++) {
    let nj = b * p.T + j;
    var s = 0.0;
    for (var e = 0u; e < hd; e++) { s = fma(rnd(QKV[qo(ni, h) + e]), rnd(QKV[ko(nj, h) + e]), s); }
    s *= p.scale;
    P[row + j] = s;
    mx = max(mx, s);
  }
  var z = 0.0;
  for (var j = 0u; j <= i; j++) { let w = exp(P[row + j] - mx); P[row + j] = w; z += w; }
  for (var j = 0u; j < p.T; j++) {
    if (j <= i) { P[row + j] = P[row + j] / z; } else { P[row + j] = 0.0; }
  }
  for (var e = 0u; e < hd; e++) {
    var acc = 0.0;
    for (var j = 0u; j <= i; j++) { acc = fma(rnd(P[row + j]), rnd(QKV[vo(b * p.T + j, h) + e]), acc); }
    OUT[ni * p.d + h * hd + e] = acc;
  }
}

@compute @workgroup_size(32)
fn backward_query(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = flat(gid, nwg);
  if (idx >= p.B * p.H * p.T) { return; }
  let i = idx % p.T;
  let h = (idx / p.T) % p.H;
  let b = idx / (p.T * p.H);
  let hd = p.d / p.H;
  let row = idx * p.T;
  let ni = b * p.T + i;
  // dP_j = dout_i · v_j, then dS_j = P_j (dP_j − Σ_k P_k dP_k) · scale
  var D = 0.0;
  for (var j = 0u; j <= i; j++) {
    var s = 0.0;
    for (var e = 0u; e < hd; e++) { s = fma(rnd(DOUT[ni * p.d + h * hd + e]), rnd(QKV[vo(b * p.T + j, h) + e]), s); }
    DS[row + j] = s;
    D += P[row + j] * s;
  }
  for (var j = 0u; j < p.T; j++) {
    if (j <= i) { DS[row + j] = P[row + j] * (DS[row + j] - D) * p.scale; } else { DS[row + j] = 0.0; }
  }
  for (var e = 0u; e < hd; e++) {
    var acc = 0.0;
    for (var j = 0u; j <= i; j++) { acc = fma(rnd(DS[row + j]), rnd(QKV[ko(b * p.T + j, h) + e]), acc); }
    DQKV[qo(ni, h) + e] = acc;
  }
}

@compute @workgroup_size(32)
fn backward_key(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = flat(gid, nwg);
  if (idx >= p.B * p.H * p.T) { return; }
  let j = idx % p.T;
  let h = (idx / p.T) % p.H;
  let b = idx / (p.T * p.H);
  let hd = p.d / p.H;
  let base = (b * p.H + h) * p.T * p.T; // P[b,h,0,0]
  let nj = b * p.T + j;
  for (var e = 0u; e < hd; e++) {
    var dk = 0.0;
    var dv = 0.0;
    for (var i = j; i < p.T; i++) {
      let ni = b * p.T + i;
      dk = fma(rnd(DS[base + i * p.T + j]), rnd(QKV[qo(ni, h) + e]), dk);
      dv = fma(rnd(P[base + i * p.T + j]), rnd(DOUT[ni * p.d + h * hd + e]), dv);
    }
    DQKV[ko(nj, h) + e] = dk;
    DQKV[vo(nj, h) + e] = dv;
  }
}
