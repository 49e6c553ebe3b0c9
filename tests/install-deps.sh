#!/usr/bin/env bash
# Installs what building, testing and the demo need on a fresh Debian machine
# (scdoc builds the man pages, dpkg-dev's dpkg-shlibdeps the .deb's
# dependencies, zsh checks the zsh completion; promtool, from Debian's heavy
# prometheus package, is used by tests/e2e/metrics.sh only when present).
# Run as root (or through sudo). Pass --bench to add the benchmark peers;
# --list prints the packages instead (.ci/run installs them itself).
set -euo pipefail
pkgs=(cmake ninja-build pkg-config gcc make
      libuv1-dev libcurl4-openssl-dev libzstd-dev libxxhash-dev libjansson-dev
      libsqlite3-dev libarchive-dev libssl-dev
      nginx curl xxhash zstd sqlite3 python3 bc clang libclang-rt-14-dev
      scdoc dpkg-dev zsh)
if [ "${1:-}" = --bench ]; then pkgs+=(aria2 rclone hyperfine time awscli); fi
# Node.js and npm run the S3 and Azure test servers (tests/s3, tests/azure).
# This kind of machine comes with Node 20 and its npm; Debian's own nodejs is
# older and its npm package would fight that install, so take them from apt
# only when missing.
if ! command -v node >/dev/null; then pkgs+=(nodejs npm)
elif ! command -v npm >/dev/null; then pkgs+=(npm); fi
if [ "${1:-}" = --list ]; then echo "${pkgs[@]}"; exit 0; fi
SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
