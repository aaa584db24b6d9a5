// Token + position embedding: X[n] = WTE[tok[n]] + WPE[n mod T], WPE read
// from float `shift` of its binding on (bindings start at 256-byte offsets;
// the incremental pass reads one row of the position table, anywhere).
// Backward without atomics (so runs are deterministic): the token gradient
// is a gather over a host-built index (rows of the batch grouped by token id,
// CSR: ROWSTART[v]..ROWSTART[v+1] index ROWIDX), accumulated into DWTE; the
// position gradient is a column sum over the batch (reduce.ts's columnSum).
struct Params { N: u32, T: u32, d: u32, V: u32, shift: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> TOK: array<u32>;
@group(0) @binding(2) var<storage, read> WTE: array<f32>;
@group(0) @binding(3) var<storage, read> WPE: array<f32>;
@group(0) @binding(4) var<storage, read_write> X: array<f32>;
@group(0) @binding(5) var<storage, read> DX: array<f32>;
@group(0) @binding(6) var<storage, read> ROWSTART: array<u32>;
@group(0) @binding(7) var<storage, read> ROWIDX: array<u32>;
@group(0) @binding(8) var<storage, read_write> DWTE: array<f32>;

fn flat(gid: vec3u, nwg: vec3u) -> u32 { return gid.x + gid.y * nwg.x * 256u; }

@compute @workgroup_size(256)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat(gid, nwg);
  if (i >= p.N * p.d) { return; }
  let n = i / p.d;
  let j = i % p.d;
  X[i] = WTE[TOK[n] * p.d + j] + WPE[p.shift + (n % p.T) * p.d + j];
}

@compute @workgroup_size(256)
fn backward_tokens(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat(gid, nwg);
  if (i >= p.V * p.d) { return; }
  let v = i / p.d;
  let j = i % p.d;
  var s = 0.0;
  for (var k = ROWSTART[v]; k < ROWSTART[v + 1u]; k++) { s += DX[ROWIDX[k] * p.d + j]; }
  DWTE[i] += s;
}
