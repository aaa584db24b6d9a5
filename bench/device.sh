#!/usr/bin/env bash
# The GPU-machine check, run there from the repository root with .device/
# carried (scripts/device-bundle.sh builds it): adapter and driver facts, the
# WebGPU training/eval benchmark, a GPU-trained model loaded by transformers,
# and the quickstart experiment end to end. Logs go to $OUT.
set -o pipefail
ROOT="$(pwd)"
OUT="${OUT:-/tmp/device-out}"; mkdir -p "$OUT"
. .device/unpack.sh
{
  echo "== node $(node --version)"; nvidia-smi -L 2>&1
  ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/nvidia/share/vulkan/icd.d 2>&1
  echo "VK_DRIVER_FILES=$VK_DRIVER_FILES"; ldconfig -p | grep libvulkan
} 2>&1 | tee "$OUT/env.txt"
echo "== train + save + transformers check" | tee "$OUT/check.txt"
VK_LOADER_DEBUG=error,warn timeout 240 node .device/bench-device.mjs /tmp/dev ${DEVICE_MODEL:-2 128 2048 64 4096 300 1024 fp32} 2>&1 | grep -v "^Warning" | tee -a "$OUT/check.txt"
python3 bench/hf_check.py /tmp/dev 2>&1 | tail -3 | tee -a "$OUT/check.txt"
echo "== bench" | tee "$OUT/bench.txt"
timeout 200 node .device/bench-train.mjs --steps 20 2>&1 | grep -v "^Warning" | tee -a "$OUT/bench.txt"
echo "== pack: 32 models of V=2048 S=64 L=1 d=32 B=64 one after another vs as one pack (target: >= 15x aggregate tokens/s)" | tee "$OUT/pack.txt"
timeout 200 node .device/bench-pack.mjs --models 32 --steps 20 --reps 2 2>&1 | grep -v "^Warning" | tee -a "$OUT/pack.txt"
echo "== eval (memorize eval vs PyTorch on this machine's CPU)" | tee "$OUT/eval.txt"
PYTHON=python3 timeout 150 node .device/bench-eval.mjs --sequences 512 --reps 2 --threads 16 2>&1 | grep -v "^Warning" | tail -12 | tee -a "$OUT/eval.txt"
echo "== quickstart" | tee "$OUT/quickstart.txt"
mkdir -p /tmp/qs && cd /tmp/qs && { time timeout 240 node "$ROOT/.device/memorize.mjs" run "$ROOT/experiments/quickstart.yaml"; } 2>&1 | grep -v "step \|^Warning" | tail -14 | tee -a "$OUT/quickstart.txt"
