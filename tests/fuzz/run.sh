#!/usr/bin/env bash
# Run every libFuzzer target in DIR for SECONDS each, from its seed corpus
# (tests/fuzz/corpus/<target minus fuzz_>/), new inputs kept in a scratch
# copy.  Exits non-zero if a target finds a crash.
set -euo pipefail
dir=${1:?usage: run.sh FUZZ_BIN_DIR SECONDS}
seconds=${2:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
shopt -s nullglob
targets=("$dir"/fuzz_*)
((${#targets[@]})) || { echo "no fuzz targets in $dir" >&2; exit 1; }
for t in "${targets[@]}"; do
	name=$(basename "$t")
	seed=$root/tests/fuzz/corpus/${name#fuzz_}
	work=$(mktemp -d)
	[[ -d $seed ]] && cp -r "$seed"/. "$work"/
	echo "fuzz: $name for ${seconds}s"
	if ! "$t" -max_total_time="$seconds" -print_final_stats=1 \
		-artifact_prefix="$work/" "$work" >"$work.log" 2>&1; then
		tail -n 40 "$work.log"
		echo "fuzz: $name found a failure; artifacts in $work" >&2
		exit 1
	fi
	tail -n 12 "$work.log"
	rm -f "$work.log"
	rm -rf "$work"
done
