#!/usr/bin/env bash
# Packs what a GPU machine without Node or network needs to run memorize into
# .device/ (git-ignored; name it in the device tool's `carry`): Node 22
# (xz-compressed), Dawn's linux-x64 binary, the CLI and the GPU benchmarks as
# ES-module bundles sharing their chunks, with the WGSL kernels beside them,
# and the Vulkan loader packages. Unpack there with `bash .device/unpack.sh`.
set -eo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
. "$ROOT/scripts/setup.sh"
OUT="$ROOT/.device"
mkdir -p "$OUT/webgpu/dist/linux-x64" "$OUT/gl"
cd "$ROOT"

banner="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"
# One esbuild call with code splitting: the entry points share their chunks (Effect, the trainer), so the
# bundle stays well inside the device tool's 64 MiB carry (separate bundles each held a copy of everything).
# Chunks sit beside the entries and the WGSL, which the kernels read from next to their own module.
rm -f "$OUT"/*.mjs
node_modules/.bin/esbuild --bundle --splitting --platform=node --format=esm --target=node22 \
  --external:webgpu --banner:js="$banner" --log-level=warning --outdir="$OUT" \
  --out-extension:.js=.mjs --chunk-names='chunk-[hash]' \
  memorize=bin/memorize.ts \
  bench-train=packages/gpu-webgpu/bench/train.ts \
  bench-pack=packages/gpu-webgpu/bench/pack.ts \
  bench-targets=packages/gpu-webgpu/bench/targets.ts \
  bench-workgroups=packages/gpu-webgpu/bench/workgroups.ts \
  bench-profile=packages/gpu-webgpu/bench/profile.ts \
  bench-features=packages/gpu-webgpu/bench/features.ts \
  bench-device=bench/device.ts \
  bench-eval=bench/eval.ts
cp packages/gpu-webgpu/src/kernels/*.wgsl "$OUT/"

WEBGPU="$(node -e 'console.log(require("path").dirname(require.resolve("webgpu/package.json", { paths: [process.argv[1]] })))' "$ROOT/packages/gpu-webgpu")"
cp "$WEBGPU/package.json" "$WEBGPU/index.js" "$OUT/webgpu/"
# Only the compressed binary travels (unpack.sh expands it there; one expanded by a local try would take 20+ MB of the carry).
rm -rf "$OUT/webgpu/dist/linux-x64/dawn.node" "$OUT/node_modules"
[ -f "$OUT/webgpu/dist/linux-x64/dawn.node.xz" ] || xz -T2 -6 -c "$WEBGPU/dist/linux-x64/dawn.node" > "$OUT/webgpu/dist/linux-x64/dawn.node.xz"
[ -f "$OUT/node.xz" ] || xz -T2 -6 -c "$(command -v node)" > "$OUT/node.xz"

# The Vulkan loader and GL dispatch libraries NVIDIA's Vulkan driver loads (the GPU machine has the driver but maybe not these).
if ! ls "$OUT"/gl/*.deb >/dev/null 2>&1; then
  mkdir -p /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  apt-get $o update -qq >&2
  (cd "$OUT/gl" && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 libx11-6 libxext6 libxcb1 libxau6 libxdmcp6 libbsd0 libmd0 >&2)
fi

cat > "$OUT/unpack.sh" <<'UNPACK'
# Source on the GPU machine from the repository root: puts node, Dawn and the Vulkan loader in place.
D="$(pwd)/.device"
for f in "$D"/gl/*.deb; do dpkg -x "$f" /; done; ldconfig
mkdir -p /tmp/memorize-bin "$D/node_modules"
xz -dc "$D/node.xz" > /tmp/memorize-bin/node && chmod +x /tmp/memorize-bin/node
[ -f "$D/webgpu/dist/linux-x64/dawn.node" ] || xz -dc "$D/webgpu/dist/linux-x64/dawn.node.xz" > "$D/webgpu/dist/linux-x64/dawn.node"
ln -sfn "$D/webgpu" "$D/node_modules/webgpu"
export PATH=/tmp/memorize-bin:$PATH XDG_RUNTIME_DIR=/tmp/xdg
mkdir -p $XDG_RUNTIME_DIR
if [ -z "$VK_DRIVER_FILES" ] && [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
UNPACK
du -sh "$OUT" >&2
