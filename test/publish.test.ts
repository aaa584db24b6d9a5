/**
 * The packages as a third party gets them. Every publishable package is
 * built and packed with pnpm (scripts/packages.ts) and the tarballs are
 * installed into a scratch folder outside the workspace (packages from pnpm's
 * store, metadata from its cache or the registry the set-up already uses).
 * README's example plugin package (the blocks marked `publish-test:`) is
 * written there, type-checked and built with tsc against the installed
 * declarations, its property-test-kit test run, and a spec naming it in
 * `plugins:` run end to end by the installed `memorize` bin on both trainers:
 * `webgpu` (Dawn ships in the webgpu package) and `cpu`, whose addon the
 * packed @memorize/gpu-webgpu builds on install (node-gyp against the local
 * Node headers, as scripts/setup.sh does for the workspace: no download).
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { pack, publishable, repoRoot } from "../scripts/packages.ts"

/** The files README's plugin guide marks with `<!-- publish-test: PATH -->` above a fenced block. */
const readmeFiles = (): ReadonlyArray<{ readonly file: string; readonly text: string }> => {
  const readme = fs.readFileSync(path.join(repoRoot, "README.md"), "utf8")
  return [...readme.matchAll(/<!-- publish-test: (\S+) -->\n```\w*\n([\s\S]*?)\n```/g)].map((m) => ({ file: m[1]!, text: `${m[2]}\n` }))
}

/**
 * Node's headers for node-gyp without a download (as scripts/setup.sh): this Node's own installation,
 * or, for the npm `node` package the set-up installs, its platform package beside the binary.
 */
const nodeHeaders = (): string | undefined => {
  const home = path.resolve(process.execPath, "../..")
  return [home, path.join(home, "node_modules", `node-${process.platform}-${process.arch}`)].find((dir) =>
    fs.existsSync(path.join(dir, "include/node/node_api.h"))
  )
}

/** The environment of a user's shell: none of the npm_* settings `pnpm vitest` passes to its children; node-gyp pointed at local headers. */
const userEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(npm_|PNPM_)/i.test(k)))
  const headers = nodeHeaders()
  return { ...env, NO_COLOR: "1", ...(headers === undefined ? {} : { npm_config_nodedir: headers }) }
}

const run = (command: string, args: ReadonlyArray<string>, cwd: string, timeoutMs = 120_000) => {
  const r = spawnSync(command, args, { cwd, env: userEnv(), encoding: "utf8", timeout: timeoutMs })
  const output = `$ ${command} ${args.join(" ")}\n${r.stdout ?? ""}${r.stderr ?? ""}${r.error ? `\n${r.error.message}` : ""}`
  return { code: r.status, stdout: r.stdout ?? "", stderr: r.stderr ?? "", output }
}

/** Tarball entries and the packed package.json. */
const tarball = (file: string) => ({
  entries: run("tar", ["-tzf", file], os.tmpdir()).stdout.split("\n").filter(Boolean),
  manifest: run("tar", ["-xOzf", file, "package/package.json"], os.tmpdir()).stdout
})

/** Type mistakes the installed declarations must catch: were the types `any`, these directives would be unused, an error. */
const typeProbe = `import { definePlugin, type Plugin } from "@memorize/core"
import { builtinPlugins } from "@memorize/cli/plugins"
import { Effect, Schema } from "effect"
import { progressionsDataset } from "../src/index.js"

// What a program assembling its own CLI (runCli from @memorize/core/cli) registers besides its plugins.
export const registered: ReadonlyArray<Plugin> = [...builtinPlugins, progressionsDataset]

// @ts-expect-error the decoded config types make: samples is a number
progressionsDataset.make({ vocab: 16, seqLen: 8, samples: "8", holdout: 4 })

// @ts-expect-error a summary column may only read what the output Schema declares
definePlugin({ kind: "metric", name: "probe", description: "", config: Schema.Struct({}), output: Schema.Struct({ members: Schema.Finite }), make: () => () => Effect.succeed({ members: 1 }), summary: [{ header: "x", digits: 1, value: (v) => v.nonMembers }] })
`

const spec = `name: published
plugins: [memorize-plugin-example]
dataset: { kind: progressions, vocab: 16, seqLen: 8, samples: 8, holdout: 8 }
model: { kind: gpt2, layers: 1, dModel: 8, heads: 1 }
train: { kind: webgpu, batchSize: 8, lr: 0.01, maxSteps: 10 }
metrics: [ { kind: mean-code-length }, { kind: loss } ]
store: { saveModels: false }
sweep: { grid: { dataset.samples: [8, 16], train.kind: [webgpu, cpu] } }
`

describe("published packages", () => {
  it("pack, install outside the workspace, type-check and run a third-party plugin with the installed CLI", async () => {
    const times: Record<string, number> = {}
    const timed = async <A>(step: string, f: () => A | Promise<A>): Promise<A> => {
      const t0 = performance.now()
      try {
        return await f()
      } finally {
        times[step] = Math.round(performance.now() - t0) / 1000
      }
    }
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "memorize-publish-"))
    const project = path.join(root, "project")
    const plugin = path.join(project, "plugin")
    let passed = false
    try {
      // 1. Build and pack.
      const tarballs = await timed("build+pack", () => Effect.runPromise(pack(path.join(root, "tarballs"))))
      expect(Object.keys(tarballs).sort()).toEqual(publishable.map((p) => `@memorize/${p}`).sort())
      for (const [name, file] of Object.entries(tarballs)) {
        const { entries, manifest } = tarball(file)
        expect(
          entries.filter((e) => e.startsWith("package/src/")),
          name
        ).toEqual([])
        expect(
          entries.some((e) => /^package\/dist\/.*\.d\.ts$/.test(e)),
          name
        ).toBe(true)
        expect(manifest, name).not.toMatch(/workspace:|catalog:/)
        const pkg = JSON.parse(manifest) as { private?: boolean; peerDependencies?: Record<string, string>; exports?: unknown }
        expect(pkg.private, name).toBeUndefined()
        expect(pkg.peerDependencies?.["effect"], name).toBe("~4.1.0")
        expect(JSON.stringify(pkg.exports ?? {}), name).not.toMatch(/\/src\//)
      }
      const gpu = tarball(tarballs["@memorize/gpu-webgpu"]!).entries
      const kernels = fs.readdirSync(path.join(repoRoot, "packages/gpu-webgpu/src/kernels")).filter((f) => f.endsWith(".wgsl"))
      for (const k of kernels) expect(gpu).toContain(`package/dist/kernels/${k}`)
      for (const f of ["binding.gyp", "addon.cc", "kernels.cc", "install.mjs"]) expect(gpu).toContain(`package/native/${f}`)

      // 2. A project outside the workspace: the tarballs (their @memorize dependencies pinned to the tarballs, not the registry), the plugin folder linked.
      const files = readmeFiles()
      expect(files.map((f) => f.file).sort()).toEqual(["package.json", "src/index.ts", "test/mean-code-length.test.ts", "tsconfig.json"])
      for (const { file, text } of [...files, { file: "test/type-probe.ts", text: typeProbe }]) {
        fs.mkdirSync(path.dirname(path.join(plugin, file)), { recursive: true })
        fs.writeFileSync(path.join(plugin, file), text)
      }
      const catalog = fs.readFileSync(path.join(repoRoot, "pnpm-workspace.yaml"), "utf8")
      const pinned = (name: string) => catalog.match(new RegExp(`^  "?${name}"?: (\\S+)$`, "m"))![1]!
      const tgz = (name: string) => `file:${tarballs[name]}`
      fs.writeFileSync(
        path.join(project, "package.json"),
        JSON.stringify(
          {
            name: "third-party-project",
            private: true,
            type: "module",
            dependencies: {
              "@memorize/cli": tgz("@memorize/cli"),
              "@memorize/core": tgz("@memorize/core"),
              "@memorize/metrics": tgz("@memorize/metrics"),
              effect: pinned("effect"),
              "@effect/platform-node": pinned("@effect/platform-node"),
              "memorize-plugin-example": "link:./plugin"
            },
            devDependencies: { typescript: pinned("typescript"), "@types/node": pinned("@types/node") },
            pnpm: { overrides: Object.fromEntries(Object.keys(tarballs).map((name) => [name, tgz(name)])) }
          },
          null,
          2
        )
      )
      // pnpm 10 runs dependencies' install scripts only when allowed; `onlyBuiltDependencies: ["@memorize/gpu-webgpu"]`
      // did not match the tarball dependency here, so all builds are allowed (the only scripts: webgpu's macOS-only postinstall and ours).
      fs.writeFileSync(path.join(project, "pnpm-workspace.yaml"), "dangerouslyAllowAllBuilds: true\n")
      const install = await timed("install", () =>
        // Without the side-effects cache, so the addon is built by the packed install script every time, not restored from an earlier build.
        run("pnpm", ["install", "--prefer-offline", "--no-frozen-lockfile", "--config.side-effects-cache=false", "--reporter=append-only"], project, 300_000)
      )
      expect(install.code, install.output).toBe(0)
      expect(install.stdout, install.output).toMatch(/built the cpu trainer's native addon/)
      const bin = path.join(project, "node_modules/.bin/memorize")

      // 3. The plugin type-checks against the installed declarations, builds, and passes its kit test.
      const tsc = await timed("tsc", () => run(process.execPath, [path.join(project, "node_modules/typescript/bin/tsc"), "-p", plugin], project))
      expect(tsc.code, tsc.output).toBe(0)
      const kit = await timed("kit test", () => run(process.execPath, ["--test", path.join(plugin, "dist/test/mean-code-length.test.js")], plugin))
      expect(kit.code, kit.output).toBe(0)
      expect(kit.stdout).toMatch(/# pass 2/)

      // 4. The installed CLI: validate, list, run, report.
      fs.writeFileSync(path.join(project, "spec.yaml"), spec)
      const validate = run(bin, ["validate", "spec.yaml"], project)
      expect(validate.code, validate.output).toBe(0)
      const listed = await timed("plugins", () => run(bin, ["plugins", "spec.yaml"], project))
      expect(listed.code, listed.output).toBe(0)
      for (const name of ["progressions", "mean-code-length", "gpt2", "webgpu", "loss"]) expect(listed.stdout).toMatch(new RegExp(`^  ${name} — `, "m"))
      expect(run(bin, ["plugins"], project).stdout).not.toMatch(/progressions/)

      const runOut = await timed("run", () => run(bin, ["run", "spec.yaml"], project, 300_000))
      expect(runOut.code, runOut.output).toBe(0)
      expect(runOut.stdout).toMatch(/4\/4 runs complete \(0 resumed, 0 failed\)/)
      expect(runOut.stdout).toMatch(/member bits/)

      const store = path.join(project, "runs/published")
      const results = fs
        .readdirSync(store)
        .filter((d) => fs.existsSync(path.join(store, d, "result.json")))
        .map((d) => JSON.parse(fs.readFileSync(path.join(store, d, "result.json"), "utf8")))
      expect(results.map((r) => `${r.config.train.kind} N=${r.dataset.trainCount}`).sort()).toEqual(["cpu N=16", "cpu N=8", "webgpu N=16", "webgpu N=8"])
      for (const r of results) {
        expect(r.provenance.model.backend).toBe(r.config.train.kind)
        expect(r.dataset.kind).toBe("progressions")
        expect(r.dataset.entropyBitsPerSequence).toBe(8)
        expect(r.model.kind).toBe("gpt2")
        expect(r.train.steps).toBe(10)
        const { members, nonMembers } = r.metrics["mean-code-length"]
        // Eight tokens over V = 16 cost 32 bits under a uniform guess; ten steps of training stay near it.
        for (const bits of [members, nonMembers]) expect(bits > 8 && bits < 64, JSON.stringify(r.metrics)).toBe(true)
        expect(r.metrics["loss"]?.train?.meanBitsPerSequence).toBeCloseTo(members, 6)
      }
      const recorded = JSON.parse(fs.readFileSync(path.join(store, "plugins.json"), "utf8"))
      expect(recorded.modules).toEqual([{ specifier: "memorize-plugin-example", path: path.join(fs.realpathSync(plugin), "dist/src/index.js") }])
      expect(fs.readFileSync(path.join(store, "report.md"), "utf8")).toMatch(/^## Mean code length$/m)
      expect(fs.readFileSync(path.join(store, "report.html"), "utf8")).toMatch(/Mean code length/)

      // `memorize report` loads the recorded plugin module again to draw its section.
      fs.rmSync(path.join(store, "report.md"))
      const report = await timed("report", () => run(bin, ["report", "runs/published"], project))
      expect(report.code, report.output).toBe(0)
      const md = fs.readFileSync(path.join(store, "report.md"), "utf8")
      expect(md).toMatch(/^## Mean code length$/m)
      expect(md).not.toMatch(/no plugin to draw it/)
      passed = true
    } finally {
      console.log(
        `[publish] ${Object.entries(times)
          .map(([k, s]) => `${k} ${s} s`)
          .join(", ")}${passed ? "" : `; scratch folder kept: ${root}`}`
      )
      if (passed) fs.rmSync(root, { recursive: true, force: true })
    }
  }, 600_000)
})
