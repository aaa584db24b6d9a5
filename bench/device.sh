#!/usr/bin/env bash
# The GPU-machine check, run there from the repository root with .device/
# carried (scripts/device-bundle.sh builds it). Logs go to $OUT.
#
#   DEVICE_PART=issue12 bash bench/device.sh   # the throughput targets first (about 5 minutes)
#   DEVICE_PART=rest bash bench/device.sh      # transformers load check, full bench, eval, quickstart
#   bash bench/device.sh                       # both, in that order
#
# Device time is scarce (minutes per session), so the part that measures open
# targets runs first and every step has its own timeout.
set -o pipefail
ROOT="$(pwd)"
OUT="${OUT:-/tmp/device-out}"; mkdir -p "$OUT"
PART="${DEVICE_PART:-all}"
. .device/unpack.sh
quiet() { grep -v "^Warning"; }
{
  echo "== node $(node --version); $(python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())' 2>&1)"
  nvidia-smi -L 2>&1
  ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/nvidia/share/vulkan/icd.d 2>&1
  echo "VK_DRIVER_FILES=$VK_DRIVER_FILES"; ldconfig -p | grep libvulkan
  # What the adapter offers by default and behind Dawn's toggles (shader-f16 on NVIDIA, subgroup matrices).
  for t in "" allow_unsafe_apis,vulkan_enable_f16_on_nvidia; do timeout 30 node .device/bench-features.mjs --toggles "$t" 2>&1 | quiet; done
} 2>&1 | tee "$OUT/env.txt"

if [ "$PART" != rest ]; then
  echo "== targets: one model, ours vs PyTorch eager and torch.compile on this GPU (<= 1 ms/step, >= 1.0x eager)" | tee "$OUT/targets.txt"
  timeout 300 node .device/bench-targets.mjs --steps 30 --reps 3 --seconds 3 --torch-device cuda --python python3 --json "$OUT/targets.json" 2>&1 | quiet | tee -a "$OUT/targets.txt"
  echo "== pack: 32 models of V=2048 S=64 L=1 d=32 B=64 one after another vs as one pack (target: >= 15x aggregate tokens/s)" | tee "$OUT/pack.txt"
  timeout 180 node .device/bench-pack.mjs --models 32 --steps 20 --reps 2 2>&1 | quiet | tee -a "$OUT/pack.txt"
  echo "== workgroups per dispatch of one training step (none below 132 but final reductions)" | tee "$OUT/workgroups.txt"
  timeout 90 node .device/bench-workgroups.mjs --steps 20 2>&1 | quiet | tee -a "$OUT/workgroups.txt"
  echo "== profile: GPU time per dispatch (timestamp queries), the step in one pass, wall time per step" | tee "$OUT/profile.txt"
  for cfg in 2048,64,1,32,64 2048,64,2,128,1024; do
    timeout 60 node .device/bench-profile.mjs --config $cfg --reps 5 --steps 30 --top 25 2>&1 | quiet | tee -a "$OUT/profile.txt"
  done
fi
[ "$PART" = issue12 ] && exit 0

echo "== train + save + transformers check" | tee "$OUT/check.txt"
VK_LOADER_DEBUG=error,warn timeout 240 node .device/bench-device.mjs /tmp/dev ${DEVICE_MODEL:-2 128 2048 64 4096 300 1024 fp32} 2>&1 | quiet | tee -a "$OUT/check.txt"
python3 bench/hf_check.py /tmp/dev 2>&1 | tail -3 | tee -a "$OUT/check.txt"
echo "== bench" | tee "$OUT/bench.txt"
timeout 200 node .device/bench-train.mjs --steps 20 2>&1 | quiet | tee -a "$OUT/bench.txt"
echo "== eval (memorize eval vs PyTorch on this machine's CPU)" | tee "$OUT/eval.txt"
PYTHON=python3 timeout 150 node .device/bench-eval.mjs --sequences 512 --reps 2 --threads 16 2>&1 | quiet | tail -12 | tee -a "$OUT/eval.txt"
echo "== quickstart" | tee "$OUT/quickstart.txt"
mkdir -p /tmp/qs && cd /tmp/qs && { time timeout 240 node "$ROOT/.device/memorize.mjs" run "$ROOT/experiments/quickstart.yaml"; } 2>&1 | grep -v "step \|^Warning" | tail -14 | tee -a "$OUT/quickstart.txt"
