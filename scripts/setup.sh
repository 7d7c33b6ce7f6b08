#!/usr/bin/env bash
# Install the Debian packages skewscope needs to build, test, fuzz and
# benchmark. Idempotent: does nothing when everything is present.
set -euo pipefail

PACKAGES=(
  build-essential pkg-config clang libclang-rt-14-dev
  libprotobuf-c-dev protobuf-c-compiler
  libjansson-dev zlib1g-dev libgsl-dev libcmocka-dev
  libzmq3-dev librdkafka-dev libcurl4-openssl-dev faketime libmicrohttpd-dev
  libyaml-dev libnghttp2-dev
  jq time curl
  prometheus
  chromium fonts-dejavu-core
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}" >&2
SUDO=
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to install ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
