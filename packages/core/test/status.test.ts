/** `memorize status`'s summary line, from a store's state alone. */
import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import { formatStatus, type RunStatus } from "../src/status.ts"

const statusOf = (complete: number, waiting: number, total: number | undefined) => {
  const runs: Array<RunStatus> = [
    ...Array.from({ length: complete }, (_, i) => ({ runId: `c${i}`, state: "complete" as const })),
    ...Array.from({ length: waiting }, (_, i) => ({ runId: `w${i}`, state: "waiting" as const }))
  ]
  return { dir: "runs/x", runs, counts: { complete, claimed: 0, "stale-claim": 0, failed: 0, waiting, invalid: 0 }, total }
}

describe("status line", () => {
  it("counts against the stored spec, and names runs beyond it as an earlier version's", () =>
    fc.assert(
      fc.property(fc.nat(50), fc.nat(50), fc.nat(100), (complete, waiting, total) => {
        const line = formatStatus(statusOf(complete, waiting, total)).split("\n")[0]!
        const seen = complete + waiting
        expect(line).toContain(`runs/x: ${complete}/${total} complete`)
        expect(line).toContain(`${waiting + Math.max(0, total - seen)} waiting`)
        if (seen > total) expect(line).toContain(`the folder holds ${seen} runs, ${seen - total} more than the stored spec expands to`)
        else expect(line).not.toContain("the folder holds")
      })
    ))

  it("without a stored spec, counts what it sees", () => {
    expect(formatStatus(statusOf(3, 1, undefined))).toBe("runs/x: 3 complete, 0 claimed, 0 stale claims, 0 failed, 1 waiting")
  })
})
