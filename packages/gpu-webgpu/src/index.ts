/** @memorize/gpu-webgpu: GPT-2 training and evaluation on WebGPU (Dawn) and natively on the CPU (OpenBLAS + C++). */
import { checkpointTrainer } from "./checkpoint/plugin.ts"
import { gpt2ModelPlugin } from "./model/plugin.ts"
import { webgpuTrainerPlugin } from "./train/plugin.ts"
import { cpuTrainerPlugin } from "./cpu/plugin.ts"

export { adapterProvenance, type AdapterInfo, WebGpu } from "./device/webgpu.ts"
export { type GpuGpt2, makeGpuGpt2, type Precision } from "./model/gpu-model.ts"
export { gpt2ModelPlugin } from "./model/plugin.ts"
export { webgpuTrainerPlugin } from "./train/plugin.ts"
export { checkpointTrainer, firstPositions } from "./checkpoint/plugin.ts"
export { loadCheckpoint, saveCheckpoint } from "./checkpoint/index.ts"
export { initGpt2Weights } from "./model/init.ts"
export { gpt2ParamCount, gpt2TensorShapes, type Gpt2Shape, type Gpt2Weights, type HostTensor } from "./model/weights.ts"

export { cpuTrainerPlugin } from "./cpu/plugin.ts"
export { type CpuGpt2Engine, makeCpuGpt2Engine } from "./cpu/cpu-model.ts"
export type { Gpt2Model } from "./model/evaluation.ts"
export { chooseDevice, type Device, devices, openGpt2 } from "./model/open.ts"

export const plugins = [gpt2ModelPlugin, webgpuTrainerPlugin, cpuTrainerPlugin, checkpointTrainer]
