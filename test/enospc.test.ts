/**
 * A full disk (a real one: a small tmpfs mounted for the test, which needs
 * root, as CI has): the error names ENOSPC and the file, no file is left
 * torn or half-written, nothing is marked complete that is not, and once
 * there is room again `run` completes the sweep.
 */
import { describe, expect, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { memorize, toySweepSpec, writeSpec } from "./cli-helpers.ts"

const walk = (dir: string): Array<string> =>
  fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]))

describe("a full disk", () => {
  it("is reported with its OS cause and file; nothing torn; the sweep resumes once there is room", () => {
    expect(process.getuid?.(), "mounting a tmpfs for this test needs root (CI runs as root)").toBe(0)
    const { dir, file } = writeSpec(toySweepSpec("enospc", [4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34]))
    const mnt = path.join(dir, "small")
    fs.mkdirSync(mnt)
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=48k", "tmpfs", mnt])
    try {
      const full = memorize(["run", file, "--store", mnt], { cwd: dir, timeoutMs: 300_000 })
      expect(full.code, full.stderr).not.toBe(0)
      expect(full.stderr + full.stdout).toMatch(/ENOSPC/)
      const files = walk(mnt)
      expect(
        files.filter((f) => path.basename(f).includes(".tmp-")),
        "no temporary files left"
      ).toEqual([])
      for (const f of files.filter((f) => f.endsWith(".json"))) expect(() => JSON.parse(fs.readFileSync(f, "utf8")), f).not.toThrow()
      const done = files.filter((f) => path.basename(f) === "result.json").length
      expect(done).toBeLessThan(16)
      // Room again: the same store completes, reusing what was complete.
      execFileSync("mount", ["-o", "remount,size=8m", mnt])
      const again = memorize(["run", file, "--store", mnt], { cwd: dir, timeoutMs: 300_000 })
      expect(again.code, again.stderr).toBe(0)
      expect(again.stdout).toMatch(new RegExp(`16/16 runs complete \\(${done} resumed`))
    } finally {
      execFileSync("umount", [mnt])
    }
  }, 600_000)
})
