/**
 * Sweep expansion: `grid` is the cartesian product of its axes, `zip` pairs
 * its lists element-wise; with both, every zip row meets every grid point.
 * Each point is a list of assignments (spec path → value) applied to the
 * spec before it is decoded.
 */
import type { SpecPath } from "./yaml-source.ts"

export interface Assignment {
  /** Where the value goes in the spec (`model.dModel` → ["model", "dModel"]). */
  readonly path: ReadonlyArray<string>
  readonly value: unknown
  /** Where the value stands in the YAML (`sweep.grid."model.dModel"[1]`). */
  readonly source: SpecPath
}

export interface SweepPoint {
  readonly assignments: ReadonlyArray<Assignment>
  /** Axis key → value, for labels and reports. */
  readonly label: Readonly<Record<string, unknown>>
}

/** A problem with the sweep itself, at a YAML path. */
export interface SweepIssue {
  readonly source: SpecPath
  readonly message: string
}

type Axes = Readonly<Record<string, ReadonlyArray<unknown>>>

export const axisPath = (key: string): ReadonlyArray<string> => key.split(".")

export const expandSweep = (
  sweep: { readonly grid?: Axes | undefined; readonly zip?: Axes | undefined } | undefined
): { readonly points: ReadonlyArray<SweepPoint>; readonly issues: ReadonlyArray<SweepIssue> } => {
  const grid = Object.entries(sweep?.grid ?? {})
  const zip = Object.entries(sweep?.zip ?? {})
  const issues: Array<SweepIssue> = []

  const zipLength = zip.length === 0 ? 1 : zip[0]![1].length
  for (const [key, values] of zip) {
    if (values.length !== zipLength) {
      issues.push({
        source: ["sweep", "zip", key],
        message: `zip lists must all have the same length: "${zip[0]![0]}" has ${zipLength} values, "${key}" has ${values.length}`
      })
    }
  }
  const allKeys = [...grid, ...zip].map(([k]) => k)
  const dup = allKeys.find((k, i) => allKeys.indexOf(k) !== i)
  if (dup !== undefined) issues.push({ source: ["sweep", "zip", dup], message: `"${dup}" is swept twice (in grid and zip)` })
  if (issues.length > 0) return { points: [], issues }

  let points: Array<Array<Assignment>> = [[]]
  for (const [key, values] of grid) {
    const next: Array<Array<Assignment>> = []
    for (const p of points) {
      values.forEach((value, i) => next.push([...p, { path: axisPath(key), value, source: ["sweep", "grid", key, i] }]))
    }
    points = next
  }
  if (zip.length > 0) {
    const rows = Array.from({ length: zipLength }, (_, i) =>
      zip.map(([key, values]): Assignment => ({ path: axisPath(key), value: values[i], source: ["sweep", "zip", key, i] }))
    )
    points = points.flatMap((p) => rows.map((row) => [...p, ...row]))
  }
  return {
    points: points.map((assignments) => ({
      assignments,
      label: Object.fromEntries(assignments.map((a) => [a.path.join("."), a.value]))
    })),
    issues: []
  }
}
