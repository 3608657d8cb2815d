#!/usr/bin/env bash
# Idle memory per connection of one Strata broker over plain TCP, TLS,
# WebSocket (ws) and WebSocket over TLS (wss).
#
#   bench/ws-idle.sh [--clients N] [--runs R] [--build DIR]
#
# Per run and per transport, on a freshly started local cluster (1 broker
# + 1 router, deploy/local/cluster.sh, on free ports): the broker's VmRSS, N idle
# connections made by strata-bench conn (--ws for ws and wss, TLS with the
# cluster's development client certificate), the broker's VmRSS again
# once every connection has its CONNACK (and 2 s more), then the cluster
# is stopped.  Prints (after - before) / N in KiB, the median of the runs.
# Only the broker is measured (the router and Redis hold nothing per
# connection).  Needs a descriptor limit above N (ulimit -n).  Every
# process it starts is stopped by PID.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CLIENTS=10000 RUNS=3 BUILD=$root/build
while (($#)); do
	case $1 in
	--clients) CLIENTS=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	--build) BUILD=$2; shift 2 ;;
	*) echo "usage: $0 [--clients N] [--runs R] [--build DIR]" >&2; exit 2 ;;
	esac
done
BENCH=$BUILD/bin/strata-bench
DIR=
BENCH_PID=

down() {
	[[ -z $DIR ]] || bash "$root/deploy/local/cluster.sh" down --dir "$DIR" \
		>/dev/null 2>&1 || true
	[[ -z $DIR ]] || rm -rf "$DIR"
	DIR=
}

cleanup() {
	[[ -z $BENCH_PID ]] || kill "$BENCH_PID" 2>/dev/null || true
	down
}
trap cleanup EXIT

# up: a fresh cluster (freed memory stays in a process's heap, so every
# measurement needs a broker that has held no connection yet)
# below 32768 (P+8700 at most): the bench's closed connections leave
# ephemeral ports above it in TIME_WAIT; a start that fails (a port
# taken meanwhile) is tried again on other ports
up() {
	local base try
	for try in 1 2 3; do
		base=$((10000 + RANDOM % 14000))
		DIR=$(mktemp -d)
		bash "$root/deploy/local/cluster.sh" up --dir "$DIR" \
			--base-port "$base" --shadowd 0 --rulesd 0 \
			--bin-dir "$BUILD/bin" >/dev/null && break
		rm -rf "$DIR"
		DIR=
		((try < 3)) || { echo "ws-idle.sh: no cluster" >&2; exit 1; }
	done
	# shellcheck disable=SC1091
	. "$DIR/endpoints.env"
	broker=${BROKER_PIDS%% *}
	tls=(--tls --cafile "$CA_FILE" --cert "$CLIENT_CERT" --key "$CLIENT_KEY")
}

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$broker/status"; }

# idle PORT ARGS...: KiB per connection of one run
idle() {
	local port=$1 before after ready=$DIR/ready
	shift
	rm -f "$ready"
	before=$(rss)
	# timeout runs the bench in a process group of its own: killing it
	# ends the bench's worker processes too
	timeout --kill-after=5 $((CLIENTS / 1000 + 90)) "$BENCH" conn \
		--ports "$port" "$@" --clients "$CLIENTS" --rate 5000 \
		--hold 600 --keepalive 60 --ready-file "$ready" --no-progress \
		>/dev/null 2>&1 &
	BENCH_PID=$!
	while [[ ! -f $ready ]] && kill -0 "$BENCH_PID" 2>/dev/null; do sleep 0.2; done
	sleep 2
	after=$(rss)
	grep -q "connected=$CLIENTS\b" "$ready" ||
		echo "ws-idle.sh: not every connection made: $(cat "$ready" 2>/dev/null)" >&2
	kill "$BENCH_PID" 2>/dev/null || true
	wait "$BENCH_PID" 2>/dev/null || true
	BENCH_PID=
	/usr/bin/python3 -c "print(round(($after - $before) / $CLIENTS, 2))"
}

median() { tr ' ' '\n' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A results
for ((r = 0; r < RUNS; r++)); do
	for t in tcp ws tls wss; do
		up
		case $t in
		tcp) results[$t]+="$(idle "${MQTT_PORTS%% *}") " ;;
		ws) results[$t]+="$(idle "${WS_PORTS%% *}" --ws) " ;;
		tls) results[$t]+="$(idle "${MQTTS_PORTS%% *}" "${tls[@]}") " ;;
		wss) results[$t]+="$(idle "${WSS_PORTS%% *}" --ws "${tls[@]}") " ;;
		esac
		down
	done
done
echo "| transport | KiB/conn (median of $RUNS) | runs |"
echo "|---|---|---|"
for t in tcp ws tls wss; do
	echo "| $t | $(echo "${results[$t]}" | xargs | median) | ${results[$t]% } |"
done
