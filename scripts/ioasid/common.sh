# SPDX-License-Identifier: GPL-2.0
# Shared settings for ioasid's build scripts; sourced, not run.
# shellcheck shell=bash

IOASID_CACHE=${IOASID_CACHE:-$HOME/.cache/ioasid}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

KERNEL_MAJOR=7.3
KERNEL_DEB_VERSION=7.3.4-1~bpo13+1
KERNEL_DEB_SHA256=703e369ddd4cce971452f5a593ee55df3a5c10c83caf0fa0df039633ed181ee3
KSRC_PRISTINE=$IOASID_CACHE/linux-$KERNEL_DEB_VERSION

BINDGEN_VERSION=0.72.1
BINDGEN=$IOASID_CACHE/tools/bin/bindgen
LIBCLANG_PATH=/usr/lib/llvm-19/lib

log() { printf '[ioasid] %s\n' "$*" >&2; }
die() { printf '[ioasid] error: %s\n' "$*" >&2; exit 1; }
