// Greedy decoding: for each sequence b, the id of the largest logit at
// position pos among the first V (ties → the smallest id, as argmax on the
// host would); logits rows are `stride` wide (V + 1 with a BOS token).
struct Params { B: u32, T: u32, V: u32, pos: u32, stride: u32, _a: u32, _b: u32, _c: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> LOGITS: array<f32>;
@group(0) @binding(2) var<storage, read_write> OUT: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let b = gid.x;
  if (b >= p.B) { return; }
  let o = (b * p.T + p.pos) * p.stride;
  var best = 0u;
  var bv = LOGITS[o];
  for (var v = 1u; v < p.V; v++) {
    let x = LOGITS[o + v];
    if (x > bv) { bv = x; best = v; }
  }
  OUT[b] = best;
}
