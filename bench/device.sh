#!/usr/bin/env bash
# The GPU-machine check, run there from the repository root with .device/
# carried (scripts/device-bundle.sh builds it). Logs go to $OUT.
#
#   DEVICE_PART=issue12 bash bench/device.sh   # the throughput targets (about 4 minutes; at most 8 by its timeouts)
#   DEVICE_PART=rest bash bench/device.sh      # transformers load check, full bench, eval, quickstart
#   bash bench/device.sh                       # both, in that order
#
# Device time is scarce (minutes per session), so the part that measures open
# targets runs first and every step has its own timeout. Every step runs; the
# script exits with the first failing step's status (124: a timeout).
set -o pipefail
ROOT="$(pwd)"
OUT="${OUT:-/tmp/device-out}"; mkdir -p "$OUT"
PART="${DEVICE_PART:-all}"
case "$PART" in issue12|rest|all) ;; *) echo "DEVICE_PART: '$PART' is not issue12, rest or all" >&2; exit 2;; esac
. .device/unpack.sh
status=0
# step LOG CMD...: runs CMD, shows and appends its output to LOG without Dawn's warnings (or FILTER's lines; the
# last KEEP lines only, if set), and keeps the first failing status. Not in a pipeline, so `status` survives.
step() {
  local log="$1"; shift
  "$@" 2>&1 | { grep -v "${FILTER:-^Warning}" || true; } | { if [ -n "$KEEP" ]; then tail -n "$KEEP"; else cat; fi; } | tee -a "$log"
  local rc=${PIPESTATUS[0]}
  if [ "$rc" -ne 0 ]; then echo "[device.sh] exit $rc: $*" | tee -a "$log"; [ "$status" -ne 0 ] || status=$rc; fi
}
banner() { echo "== $2" | tee "$OUT/$1"; }

banner env.txt "node $(node --version); $(python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())' 2>&1)"
{
  nvidia-smi -L 2>&1
  ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/nvidia/share/vulkan/icd.d 2>&1
  echo "VK_DRIVER_FILES=$VK_DRIVER_FILES"; ldconfig -p | grep libvulkan
} 2>&1 | tee -a "$OUT/env.txt"
# What the adapter offers by default and behind Dawn's toggles (shader-f16 on NVIDIA, subgroup matrices).
for t in "" allow_unsafe_apis,vulkan_enable_f16_on_nvidia; do step "$OUT/env.txt" timeout 15 node .device/bench-features.mjs --toggles "$t"; done

if [ "$PART" != rest ]; then
  banner targets.txt "targets: one model, ours vs PyTorch eager and torch.compile on this GPU (<= 1 ms/step, >= 1.0x eager)"
  step "$OUT/targets.txt" timeout 240 node .device/bench-targets.mjs --seconds 2 --reps 3 --torch-device cuda --torch-timeout 170 --python python3 --json "$OUT/targets.json"
  banner pack.txt "pack: 32 models of V=2048 S=64 L=1 d=32 B=64 one after another vs as one pack (target: >= 15x aggregate tokens/s)"
  step "$OUT/pack.txt" timeout 90 node .device/bench-pack.mjs --models 32 --steps 20 --reps 2
  banner workgroups.txt "workgroups per dispatch of one training step (none below 132 but final reductions)"
  step "$OUT/workgroups.txt" timeout 45 node .device/bench-workgroups.mjs --steps 20
  banner profile.txt "profile: GPU time per dispatch (timestamp queries), the step in one pass, wall time per step"
  for cfg in 2048,64,1,32,64 2048,64,2,128,1024; do
    step "$OUT/profile.txt" timeout 40 node .device/bench-profile.mjs --config $cfg --reps 5 --steps 200 --top 25
  done
fi

if [ "$PART" != issue12 ]; then
  banner check.txt "train + save + transformers check"
  VK_LOADER_DEBUG=error,warn step "$OUT/check.txt" timeout 240 node .device/bench-device.mjs /tmp/dev ${DEVICE_MODEL:-2 128 2048 64 4096 300 1024 fp32}
  KEEP=3 step "$OUT/check.txt" python3 bench/hf_check.py /tmp/dev
  banner bench.txt "bench"
  step "$OUT/bench.txt" timeout 200 node .device/bench-train.mjs --steps 20
  banner eval.txt "eval (memorize eval vs PyTorch on this machine's CPU)"
  PYTHON=python3 KEEP=12 step "$OUT/eval.txt" timeout 150 node .device/bench-eval.mjs --sequences 512 --reps 2 --threads 16
  banner quickstart.txt "quickstart"
  mkdir -p /tmp/qs
  FILTER='step \|^Warning' KEEP=14 step "$OUT/quickstart.txt" bash -c "cd /tmp/qs && time timeout 240 node '$ROOT/.device/memorize.mjs' run '$ROOT/experiments/quickstart.yaml'"
fi
exit $status
