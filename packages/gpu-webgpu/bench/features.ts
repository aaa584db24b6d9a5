/**
 * Probe (not a test): what the adapter offers under a set of Dawn toggles,
 * one JSON line: its features, subgroup sizes and subgroup-matrix shapes
 * (tensor cores, Dawn's experimental `chromium-experimental-subgroup-matrix`),
 * so the fp16 and subgroup-matrix paths of issue 12 can be planned from what
 * a GPU really exposes. Dawn hides some features behind toggles:
 * `allow_unsafe_apis` (experimental features) and `vulkan_enable_f16_on_nvidia`
 * (shader-f16 on NVIDIA's Vulkan driver). One toggle set per process (a Dawn
 * instance lives as long as the process).
 *
 *   tsx packages/gpu-webgpu/bench/features.ts [--toggles allow_unsafe_apis,vulkan_enable_f16_on_nvidia]
 */
import { parseArgs } from "node:util"
import { create, globals } from "webgpu"

const { values: args } = parseArgs({ options: { toggles: { type: "string", default: "" } } })
const toggles = args.toggles.split(",").filter((t) => t.length > 0)
Object.assign(globalThis, globals)
const gpu = create([`enable-dawn-features=${["disable_robustness", ...toggles].join(",")}`, "disable-dawn-features=timestamp_quantization"])
const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" })
if (adapter === null) {
  console.log(JSON.stringify({ toggles, adapter: null }))
  process.exit(1)
}
interface MatrixConfig {
  readonly componentType: string
  readonly resultComponentType: string
  readonly M: number
  readonly N: number
  readonly K: number
}
const info = adapter.info as GPUAdapterInfo & {
  subgroupMatrixConfigs?: ReadonlyArray<MatrixConfig>
  subgroupMinSize?: number
  subgroupMaxSize?: number
}
// Dawn's objects keep these as prototype getters, which JSON.stringify skips: copy them out.
const matrices = (info.subgroupMatrixConfigs ?? []).map((m) => ({
  componentType: m.componentType,
  resultComponentType: m.resultComponentType,
  M: m.M,
  N: m.N,
  K: m.K
}))
console.log(
  JSON.stringify({
    toggles,
    description: info.description,
    features: [...adapter.features].sort(),
    subgroupMinSize: info.subgroupMinSize,
    subgroupMaxSize: info.subgroupMaxSize,
    subgroupMatrixConfigs: matrices
  })
)
process.exit(0)
