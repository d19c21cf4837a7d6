#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Style checks of the tree, as TAP (one case per check) for report.py: the driver's Rust
# is rustfmt-clean with the kernel's .rustfmt.toml, and every kernel patch of patches/ is
# clean under the kernel's scripts/checkpatch.pl --strict.
#   style.sh
set -uo pipefail
. "$(dirname "$0")/common.sh"

ksrc=${KDIR:-$KSRC_PRISTINE}
patches=("$REPO"/patches/*.patch)
echo "1..$((1 + ${#patches[@]}))"
rustfmt=$(command -v rustfmt || echo "$HOME/.cargo/bin/rustfmt")
mapfile -t files < <(cd "$REPO" && find rust -name '*.rs' | sort)
if [ ! -x "$rustfmt" ]; then
	echo "# no rustfmt"
	echo "not ok 1 rustfmt"
elif bad=$(cd "$REPO" && "$rustfmt" --check --edition 2021 --config-path "$ksrc/.rustfmt.toml" \
	-l "${files[@]}" 2>&1) && [ -z "$bad" ]; then
	echo "ok 1 rustfmt (${#files[@]} files)"
else
	sed 's/^/# not rustfmt-clean: /' <<<"$bad"
	echo "not ok 1 rustfmt"
fi
n=1
for p in "${patches[@]}"; do
	n=$((n + 1))
	if out=$(cd "$ksrc" && perl scripts/checkpatch.pl --strict --terse --no-summary "$p" 2>&1) &&
		[ -z "$out" ]; then
		echo "ok $n checkpatch --strict ${p##*/}"
	else
		sed 's/^/# /' <<<"$out"
		echo "not ok $n checkpatch --strict ${p##*/}"
	fi
done
