/** Learning-rate schedules: linear warmup, then constant, cosine or linear decay to zero at maxSteps. */
export type Schedule = "constant" | "cosine" | "linear"

/** lr at 0-based step `step`. */
export const learningRate = (base: number, step: number, warmup: number, maxSteps: number, schedule: Schedule): number => {
  if (step < warmup) return (base * (step + 1)) / warmup
  if (schedule === "constant") return base
  const span = Math.max(1, maxSteps - warmup)
  const frac = Math.min(1, (step - warmup) / span)
  return schedule === "cosine" ? base * 0.5 * (1 + Math.cos(Math.PI * frac)) : base * (1 - frac)
}
