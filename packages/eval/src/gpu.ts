/**
 * What eval needs of the gpu-webgpu package beyond its public exports:
 * opening a GPT-2 on a backend (cpu | webgpu | auto). Kept in this one file
 * until `openGpt2`, `devices` and `Device` are exported from
 * @memorize/gpu-webgpu's index.ts; then these lines import from there.
 */
export { type Device, devices, openGpt2 } from "@memorize/gpu-webgpu"
