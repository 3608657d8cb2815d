#!/usr/bin/env bash
# Run every libFuzzer target in DIR for SECONDS each, from its seed corpus
# (tests/fuzz/corpus/<target minus fuzz_>/), new inputs kept in a scratch
# copy, FUZZ_JOBS targets at a time.  Exits non-zero if a target finds a
# crash.
set -euo pipefail
dir=${1:?usage: run.sh FUZZ_BIN_DIR SECONDS}
seconds=${2:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
shopt -s nullglob
targets=("$dir"/fuzz_*)
((${#targets[@]})) || { echo "no fuzz targets in $dir" >&2; exit 1; }
# One target's run; 0 or 1 (a failure, its artifacts kept).
fuzz_one() {
	local t=$1 name seed work
	name=$(basename "$t")
	seed=$root/tests/fuzz/corpus/${name#fuzz_}
	work=$(mktemp -d)
	[[ -d $seed ]] && cp -r "$seed"/. "$work"/
	if ! "$t" -max_total_time="$seconds" -print_final_stats=1 \
		-artifact_prefix="$work/" "$work" >"$work.log" 2>&1; then
		echo "fuzz: $name for ${seconds}s"
		tail -n 40 "$work.log"
		echo "fuzz: $name found a failure; artifacts in $work" >&2
		return 1
	fi
	echo "fuzz: $name for ${seconds}s"
	tail -n 12 "$work.log"
	rm -f "$work.log"
	rm -rf "$work"
}

# FUZZ_JOBS targets at a time (default 1); the reports are printed in
# target order once all have ended.
jobs_max=${FUZZ_JOBS:-1}
reports=$(mktemp -d)
failed=0
running=0
for t in "${targets[@]}"; do
	if ((running >= jobs_max)); then
		wait -n || failed=1
		running=$((running - 1))
	fi
	fuzz_one "$t" >"$reports/$(basename "$t")" 2>&1 &
	running=$((running + 1))
done
while ((running > 0)); do
	wait -n || failed=1
	running=$((running - 1))
done
cat "$reports"/*
rm -rf "$reports"
exit "$failed"
