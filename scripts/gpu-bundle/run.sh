#!/bin/sh
# The GPU check, on a machine with an NVIDIA GPU and no Node (written by `npm run gpu:bundle`):
#   sh gpu-bundle/run.sh [--out result.json] [--modes cpu,auto] [--clients 1,8,32] [--rounds 3]
# Unpacks Node and the bundled server into $GPU_CHECK_WORK (default /tmp/inferlet-gpu-check), installs
# Debian's Vulkan loader and glvnd from gl/ (as root; GPU_CHECK_NO_GL=1 skips it), points the Vulkan
# loader at NVIDIA's ICD where it is found, writes the gpu variants of the models, then runs the bundled
# server once per mode and prints the JSON table (app/check.mjs). Everything runs on the bundled Node.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=${GPU_CHECK_WORK:-/tmp/inferlet-gpu-check}
rm -rf "$work"
mkdir -p "$work"

if [ -z "${GPU_CHECK_NO_GL:-}" ] && [ -d "$here/gl" ]; then
  if [ "$(id -u)" = 0 ] && command -v dpkg >/dev/null; then
    for deb in "$here"/gl/*.deb; do dpkg -x "$deb" /; done
    ldconfig
  else
    echo "gpu check: not root or no dpkg; the Vulkan loader in gl/ is not installed" >&2
  fi
fi
# NVIDIA's container runtime mounts the ICD in one of these; the loader's default search misses the first.
if [ -z "${VK_DRIVER_FILES:-}" ]; then
  for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json \
    /usr/share/vulkan/icd.d/nvidia_icd.json; do
    if [ -f "$icd" ]; then export VK_DRIVER_FILES="$icd"; break; fi
  done
fi

xz -dc "$here/node.xz" > "$work/node"
chmod +x "$work/node"
xz -dc "$here/payload.tar.xz" | tar -C "$work" -xf -
cd "$work"
./node app/gpu-variants.mjs models >&2
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >&2 || true
fi
exec ./node app/check.mjs --app app --models models --docs docs "$@"
