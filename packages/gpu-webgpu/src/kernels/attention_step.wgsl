// Attention of one new position per sequence over key/value caches (the
// incremental pass; step-schedule.ts's attentionStep). QKV holds B rows
// [q | k | v] of position `pos`; the caches hold B × T rows of width d.
// Thread (b, h) stores its head's k and v of row b at cache row `pos` of
// sequence b, then attends its q over cache rows 0..pos. It only reads
// cache entries it wrote itself (now or in earlier steps), so one dispatch
// needs no barrier. The arithmetic, and its order, is attention.wgsl's
// forward for query row pos: fma dot products of rounded operands, scaled,
// exp(s − max), normalised, then Σ_j rnd(P_j)·rnd(v_j) in order of j. The
// scores go through S (B·H rows of pos + 1).
struct Params { B: u32, T: u32, d: u32, H: u32, pos: u32, scale: f32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> QKV: array<f32>;
@group(0) @binding(2) var<storage, read_write> KC: array<f32>;
@group(0) @binding(3) var<storage, read_write> VC: array<f32>;
@group(0) @binding(4) var<storage, read_write> OUT: array<f32>;
@group(0) @binding(5) var<storage, read_write> S: array<f32>;

{{ROUND}}

fn flat(gid: vec3u, nwg: vec3u) -> u32 { return gid.x + gid.y * nwg.x * 32u; }

@compute @workgroup_size(32)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let idx = flat(gid, nwg);
  if (idx >= p.B * p.H) { return; }
  let h = idx % p.H;
  let b = idx / p.H;
  let hd = p.d / p.H;
  let q = b * 3u * p.d + h * hd;  // q of row b, head h (k at + d, v at + 2d)
  let c = b * p.T * p.d + h * hd; // cache row 0 of sequence b, head h
  let at = c + p.pos * p.d;
  for (var e = 0u; e < hd; e++) {
    KC[at + e] = QKV[q + p.d + e];
    VC[at + e] = QKV[q + 2u * p.d + e];
  }
  let row = idx * (p.pos + 1u);
  var mx = -3.0e38;
  for (var j = 0u; j <= p.pos; j++) {
    var s = 0.0;
    for (var e = 0u; e < hd; e++) { s = fma(rnd(QKV[q + e]), rnd(KC[c + j * p.d + e]), s); }
    s *= p.scale;
    S[row + j] = s;
    mx = max(mx, s);
  }
  var z = 0.0;
  for (var j = 0u; j <= p.pos; j++) { let w = exp(S[row + j] - mx); S[row + j] = w; z += w; }
  for (var j = 0u; j <= p.pos; j++) { S[row + j] = S[row + j] / z; }
  for (var e = 0u; e < hd; e++) {
    var acc = 0.0;
    for (var j = 0u; j <= p.pos; j++) { acc = fma(rnd(S[row + j]), rnd(VC[c + j * p.d + e]), acc); }
    OUT[b * p.d + h * hd + e] = acc;
  }
}
