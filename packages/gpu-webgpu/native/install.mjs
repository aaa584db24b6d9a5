// The package's install script: builds the CPU trainer's addon (native/build/Release/memorize_cpu.node)
// with node-gyp on the machine that runs it (binding.gyp compiles with -march=native).
// It never fails the install: without a compiler or OpenBLAS the `webgpu` trainer still works,
// and the `cpu` trainer says the addon is missing when a spec asks for it.
import { spawnSync } from "node:child_process"
import { existsSync, readdirSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const native = dirname(fileURLToPath(import.meta.url))
const say = (line) => process.stderr.write(`@memorize/gpu-webgpu: ${line}\n`)

// In a checkout of the repository (sources beside native/), scripts/setup.sh builds the addon
// under a lock and rebuilds it when sources change; building here too would race with it.
if (existsSync(join(native, "..", "src"))) process.exit(0)

const cblasHeader = () =>
  ["/usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h", "/usr/include/openblas/cblas.h", "/usr/include/cblas.h"].some(existsSync) ||
  (existsSync("/usr/include") && readdirSync("/usr/include", { withFileTypes: true }).some((d) => d.isDirectory() && existsSync(join("/usr/include", d.name, "openblas-pthread", "cblas.h"))))

const skip = (why) => {
  say(`the cpu trainer's native addon was not built: ${why}.`)
  say("train.kind: webgpu works without it; to build it later: install g++, make and OpenBLAS (Debian: apt-get install g++ make libopenblas-dev), then `npm rebuild @memorize/gpu-webgpu` (pnpm: `pnpm rebuild @memorize/gpu-webgpu`).")
  process.exit(0)
}

if (process.platform !== "linux") skip(`the build is written for Linux (this is ${process.platform})`)
if (!cblasHeader()) skip("OpenBLAS's cblas.h was not found")

// npm names its bundled node-gyp in npm_config_node_gyp; pnpm puts its own on PATH.
const gyp = process.env.npm_config_node_gyp
const [command, args] = gyp ? [process.execPath, [gyp, "rebuild"]] : ["node-gyp", ["rebuild"]]
const built = spawnSync(command, args, { cwd: native, stdio: "inherit" })
if (built.error) skip(`node-gyp could not be started (${built.error.message})`)
if (built.status !== 0) skip(`node-gyp exited with ${built.status ?? built.signal} (its output is above)`)
say("built the cpu trainer's native addon (native/build/Release/memorize_cpu.node)")
