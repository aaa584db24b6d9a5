/**
 * WGSL snippets shared by several kernels: operand rounding for the
 * precision modes and the GELU function (used by the GELU kernel and the
 * fused matmul+bias+GELU epilogue).
 */
import { readFileSync } from "node:fs"

export type Precision = "fp32" | "bf16" | "bf16-params" | "fp16"
export const precisions: ReadonlyArray<Precision> = ["fp32", "bf16", "bf16-params", "fp16"]

/** Reads a kernel's `.wgsl` file (next to this module). */
export const wgsl = (file: string): string => readFileSync(new URL(`./${file}`, import.meta.url), "utf8")

/** How matmul operands are rounded before the f32 multiply-accumulate. */
export type OperandRounding = "none" | "bf16" | "fp16"
export const operandRounding = (p: Precision): OperandRounding => (p === "fp32" ? "none" : p === "fp16" ? "fp16" : "bf16")

/** Module-level `enable` directives a rounding needs (none today: fp16 rounding packs through u32). */
export const enableFor = (_r: OperandRounding): string => ""

/**
 * `fn rnd(x: f32) -> f32`: identity, bfloat16 round-to-nearest-even (the
 * bf16 autocast of an operand: keep the upper 16 bits after adding the
 * rounding bias; NaN and infinities pass through), or a trip through f16.
 */
export const roundFn = (r: OperandRounding): string => {
  switch (r) {
    case "none":
      return "fn rnd(x: f32) -> f32 { return x; }"
    case "bf16":
      return `fn rnd(x: f32) -> f32 {
  let u = bitcast<u32>(x);
  if ((u & 0x7f800000u) == 0x7f800000u) { return x; }
  return bitcast<f32>((u + 0x7fffu + ((u >> 16u) & 1u)) & 0xffff0000u);
}`
    case "fp16":
      // In integer arithmetic: a f32(f16(x)) or pack2x16float round trip is folded
      // away by some compilers (lavapipe's), which would silently give fp32.
      return `fn rnd(x: f32) -> f32 {
  let u = bitcast<u32>(x);
  let a = u & 0x7fffffffu;
  if (a >= 0x7f800000u) { return x; }
  let e = i32(a >> 23u) - 127;
  if (e < -25) { return 0.0 * x; }
  let drop = u32(13 + max(e, -14) - e);
  let mant = (a & 0x7fffffu) | 0x800000u;
  let r = (mant + (1u << (drop - 1u)) - 1u + ((mant >> drop) & 1u)) >> drop;
  let v = min(ldexp(f32(r), e - 23 + i32(drop)), 65504.0);
  return select(v, -v, (u & 0x80000000u) != 0u);
}`
  }
}

/** GPT-2's GELU (tanh approximation, "gelu_new") and its derivative. */
export const geluFns = `
fn gelu(x: f32) -> f32 {
  let c = 0.7978845608028654;
  let u = clamp(c * (x + 0.044715 * x * x * x), -15.0, 15.0);
  return 0.5 * x * (1.0 + tanh(u));
}
fn gelu_grad(x: f32) -> f32 {
  let c = 0.7978845608028654;
  let u = clamp(c * (x + 0.044715 * x * x * x), -15.0, 15.0);
  let t = tanh(u);
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * c * (1.0 + 3.0 * 0.044715 * x * x);
}
`
