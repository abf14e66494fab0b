#!/usr/bin/env bash
# Installs the Debian 12 packages twin needs, and nothing when they are all
# there already. Runs apt-get as root, or through sudo.
set -euo pipefail

packages=(
    build-essential pkg-config meson ninja-build   # the build
    libcmocka-dev                                  # unit tests
    python3 python3-pytest python3-matplotlib python3-numpy  # the end-to-end driver, its plots, page hashes
    lcov                                           # the coverage floor
    libpcap-dev tshark                             # pcap capture, and the check that Wireshark reads it
    liburing-dev                                   # io_uring (live mode)
    libyaml-dev                                    # scenario files
    clang libclang-rt-14-dev                       # libFuzzer targets (-fsanitize=fuzzer) and BPF programs
    libxdp-dev libbpf-dev                          # AF_XDP (live mode)
    iproute2 iputils-ping curl nginx-light wrk sockperf iperf3 ethtool  # live peers on the kernel's stack
)

missing=()
for p in "${packages[@]}"; do
    [[ $p == \#* ]] && continue
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "install-deps: installing ${missing[*]}"
sudo=()
if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 2; }
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
