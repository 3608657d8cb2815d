#!/usr/bin/env bash
# Fleet indexing at scale: how long strata-shadowd takes to build the
# AWS_Things index of N things with shadows, how long a change takes to
# show, and the latency of each kind of query and aggregation.
#
#   bench/fleet-index.sh [--things N] [--runs R] [--build DIR] [--out DIR]
#
# Starts a local cluster (deploy/local/cluster.sh: 1 broker, 1 router,
# 1 shadowd, no rulesd) on a free base port, writes --things N (default
# 100000) things into Redis in the registry's layout (the records and the
# strata:things set the admin API's CreateThing writes; much faster than N
# HTTP calls), each with a classic shadow (reported battery, temp, mode,
# fw; desired mode), a third of them with a connectivity record, then:
#   build     UpdateIndexingConfiguration (REGISTRY_AND_SHADOW, STATUS,
#             custom field shadow.reported.battery Number) until
#             DescribeIndex says ACTIVE: the whole build by shadowd
#   freshness a shadow updated over the HTTP shadow API, then searched for
#             until found: the seconds from the change to the index (R
#             times)
#   queries   each query kind R times (default 50) over the admin API
#             (one HTTP connection, bearer token): median and p99 in ms
# Prints a markdown table; raw figures stay in --out.  Builds nothing
# (expects DIR/bin, default build/bin); stops every process it started,
# by PID, on exit (cluster.sh down).  Not part of `make test` (a smoke
# run with --things 1000 --runs 3 is, from tests/run.sh).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
THINGS=100000
RUNS=50
BUILD=$root/build
OUT=
PY=${PYTHON:-/usr/bin/python3}
[[ -x $PY ]] || PY=python3

die() {
	echo "fleet-index.sh: $*" >&2
	exit 1
}

usage() {
	awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' \
		"${BASH_SOURCE[0]}"
	exit 2
}

while (($#)); do
	case $1 in
	--things) THINGS=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	--build) BUILD=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	-h | --help) usage ;;
	*) die "unknown argument $1" ;;
	esac
done
[[ $THINGS =~ ^[1-9][0-9]{0,6}$ ]] || die "--things must be 1..9999999"
[[ $RUNS =~ ^[1-9][0-9]{0,3}$ ]] || die "--runs must be 1..9999"
BIN=$BUILD/bin
[[ -x $BIN/strata-shadowd ]] || die "$BIN/strata-shadowd not found: build first"
command -v redis-cli >/dev/null || die "redis-cli not found"
[[ -n $OUT ]] || OUT=$(mktemp -d "${TMPDIR:-/tmp}/strata-fidx.XXXXXX")
mkdir -p "$OUT"
CLUSTER=$root/deploy/local/cluster.sh
CLUSTER_DIR=

cleanup() {
	if [[ -n $CLUSTER_DIR ]]; then
		"$CLUSTER" down --dir "$CLUSTER_DIR" >/dev/null 2>&1 || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pick_base() {
	local p off ok
	for ((p = 12000 + RANDOM % 60 * 100; p < 24000; p += 100)); do
		ok=1
		for off in 0 3000 3500 4500 6000 7000 8000 8100 8200 8300 8400 8500; do
			port_free $((p + off)) || { ok=0; break; }
		done
		((ok)) && { echo "$p"; return; }
	done
	die "no free port range found"
}

base=$(pick_base)
CLUSTER_DIR=$OUT/cluster
rm -rf "$CLUSTER_DIR"
"$CLUSTER" up --dir "$CLUSTER_DIR" --brokers 1 --routers 1 --shadowd 1 \
	--rulesd 0 --base-port "$base" --bin-dir "$BIN" >"$OUT/cluster-up.log" 2>&1 ||
	die "cluster.sh up failed; see $OUT/cluster-up.log"
# shellcheck disable=SC1091
. "$CLUSTER_DIR/endpoints.env"
export ADMIN_URL ADMIN_TOKEN DATA_URL REDIS_PORT REDIS_USER REDIS_PASSWORD_FILE
export HOST REDIS_PID
"$PY" "$here/fleet_index.py" --things "$THINGS" --runs "$RUNS" --out "$OUT" \
	--cluster-dir "$CLUSTER_DIR"
