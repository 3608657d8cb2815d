#!/usr/bin/env bash
# Compare Strata with Mosquitto on the same strata-bench scenarios.
#
#   bench/compare.sh [--runs N] [--duration S] [--build DIR] [--out DIR]
#                    SCENARIO...
#
# Scenarios: idle10k idle10k-tls idle100k pairs-qos0 pairs-qos1
#            pairs-qos1-persistent fanin-qos1 fanout-qos0 latency-qos1
#            connect-rate connect-burst, or `all` (every one but idle100k).
# Targets, run ALTERNATING (s1, s2, s23, mosquitto, s1, ...) --runs times each
# (default 3), every run on a freshly started target:
#   s1   Strata local cluster, 1 broker + 1 router (deploy/local/cluster.sh)
#   s2   Strata local cluster, 2 brokers + 1 router
#   s23  Strata local cluster, 2 brokers + 3 routers
#   mosq Mosquitto (/usr/sbin/mosquitto) with a generated configuration
# Prints a markdown table of medians and the ratio Strata(1b+1r)/Mosquitto.
# Builds nothing: expects strata-bench, strata-broker and strata-router in
# DIR/bin (default build/bin).  Every process it starts is stopped by PID.
# Strata's brokers run with throttling off (STRATA_THROTTLE_* = 0) unless
# those variables are set.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
RUNS=3
DURATION=10
BUILD=$root/build
OUT=
MOSQUITTO=${MOSQUITTO:-/usr/sbin/mosquitto}
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3

die() {
	echo "compare.sh: $*" >&2
	exit 1
}

usage() {
	sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
	exit 2
}

SCENARIOS=()
while (($#)); do
	case $1 in
	--runs) RUNS=$2; shift 2 ;;
	--duration) DURATION=$2; shift 2 ;;
	--build) BUILD=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	-h | --help) usage ;;
	all) SCENARIOS+=(idle10k idle10k-tls pairs-qos0 pairs-qos1 pairs-qos1-persistent
		fanin-qos1 fanout-qos0 latency-qos1 connect-rate connect-burst); shift ;;
	-*) die "unknown option $1" ;;
	*) SCENARIOS+=("$1"); shift ;;
	esac
done
((${#SCENARIOS[@]})) || usage
BIN=$BUILD/bin
BENCH=$BIN/strata-bench
[[ -x $BENCH ]] || die "$BENCH not found: build first"
[[ -x $MOSQUITTO ]] || die "$MOSQUITTO not found"
[[ -n $OUT ]] || OUT=$(mktemp -d "${TMPDIR:-/tmp}/strata-compare.XXXXXX")
mkdir -p "$OUT"
CLUSTER=$root/deploy/local/cluster.sh

# --- process bookkeeping: everything started here is stopped by PID -----
MOSQ_PID=
BENCH_PID=
CLUSTER_DIR=

stop_mosquitto() {
	if [[ -n $MOSQ_PID ]]; then
		kill "$MOSQ_PID" 2>/dev/null || true
		wait "$MOSQ_PID" 2>/dev/null || true
		MOSQ_PID=
	fi
}

stop_cluster() {
	if [[ -n $CLUSTER_DIR ]]; then
		"$CLUSTER" down --dir "$CLUSTER_DIR" >/dev/null 2>&1 || true
		CLUSTER_DIR=
	fi
}

cleanup() {
	if [[ -n $BENCH_PID ]]; then
		kill "$BENCH_PID" 2>/dev/null || true
		wait "$BENCH_PID" 2>/dev/null || true
	fi
	stop_mosquitto
	stop_cluster
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# A base port P such that P..P+9 and the cluster's offsets are all free.
# Every port stays below 32768, where Linux's ephemeral range starts: the
# scenarios' own client sockets take ephemeral ports and would collide.
pick_base() {
	local p off ok
	for ((p = 12000 + RANDOM % 60 * 100; p < 24500; p += 100)); do
		ok=1
		for off in 0 1 2 3 4 5 6 7 4500 6000 7000 7001 8000 8001 8100; do
			port_free $((p + off)) || { ok=0; break; }
		done
		((ok)) && { echo "$p"; return; }
	done
	die "no free port range found"
}

# --- targets: start sets PORTS and TARGET_PIDS ---------------------------
start_strata() {
	local brokers=$1 routers=$2 base
	base=$(pick_base)
	CLUSTER_DIR=$OUT/cluster-$brokers-$routers
	rm -rf "$CLUSTER_DIR"
	"$CLUSTER" up --dir "$CLUSTER_DIR" --brokers "$brokers" --routers "$routers" \
		--base-port "$base" --bin-dir "$BIN" >"$OUT/cluster-up.log" 2>&1 ||
		die "cluster.sh up failed; see $OUT/cluster-up.log"
	# shellcheck disable=SC1091
	PORTS=$(. "$CLUSTER_DIR/endpoints.env" && echo "$MQTT_PORTS")
	# shellcheck disable=SC1091
	TARGET_PIDS=$(. "$CLUSTER_DIR/endpoints.env" && echo "$PIDS")
	# shellcheck disable=SC1091
	TLS_PORTS=$(. "$CLUSTER_DIR/endpoints.env" && echo "$MQTTS_PORTS")
	TLS_DIR=$CLUSTER_DIR/certs
}

start_mosquitto() {
	local port i
	port=$(pick_base)
	"$root/deploy/local/gen-certs.sh" "$OUT/certs" || die "gen-certs.sh failed"
	cat >"$OUT/mosquitto.conf" <<-EOF
		user root
		per_listener_settings false
		listener $port 127.0.0.1
		listener $((port + 1)) 127.0.0.1
		cafile $OUT/certs/ca.crt
		certfile $OUT/certs/server.crt
		keyfile $OUT/certs/server.key
		require_certificate true
		allow_anonymous true
		persistence false
		max_connections -1
		max_keepalive 1200
		set_tcp_nodelay true
		max_queued_messages 10000
	EOF
	"$MOSQUITTO" -c "$OUT/mosquitto.conf" >"$OUT/mosquitto.log" 2>&1 &
	MOSQ_PID=$!
	for ((i = 0; i < 100; i++)); do
		port_free "$port" || break
		kill -0 "$MOSQ_PID" 2>/dev/null || die "mosquitto exited; see $OUT/mosquitto.log"
		sleep 0.05
	done
	PORTS=$port
	TLS_PORTS=$((port + 1))
	TLS_DIR=$OUT/certs
	TARGET_PIDS=$MOSQ_PID
}

start_target() {
	case $1 in
	s1) start_strata 1 1 ;;
	s2) start_strata 2 1 ;;
	s23) start_strata 2 3 ;;
	s6) start_strata 6 1 ;;
	mosq) start_mosquitto ;;
	esac
}

stop_target() {
	stop_mosquitto
	stop_cluster
}

# Sum of VmRSS (KiB) of the target's processes.
rss_kib() {
	local pid sum=0 v
	for pid in $TARGET_PIDS; do
		v=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}

# Work counters summed over the target's processes: CPU ticks (user +
# system), read and write system calls, context switches.
counters() {
	local pid t=0 s=0 x=0 v
	for pid in $TARGET_PIDS; do
		v=$(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)
		t=$((t + ${v:-0}))
		v=$(awk '/^sysc[rw]:/ {n += $2} END {print n + 0}' "/proc/$pid/io" 2>/dev/null || echo 0)
		s=$((s + ${v:-0}))
		v=$(awk '/ctxt_switches/ {n += $2} END {print n + 0}' "/proc/$pid/status" 2>/dev/null || echo 0)
		x=$((x + ${v:-0}))
	done
	echo "$t $s $x"
}

# cost BEFORE AFTER N UNIT: what the target's processes spent per unit of
# work (N messages delivered, or connections made), as metric lines.
cost() {
	local hz
	hz=$(getconf CLK_TCK)
	"$PY" - "$1" "$2" "$3" "$hz" "$4" <<-'PY'
		import sys
		b = [int(x) for x in sys.argv[1].split()]
		a = [int(x) for x in sys.argv[2].split()]
		n, hz, unit = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
		if n > 0:
		    print("cpu us/%s\t%.2f" % (unit, (a[0] - b[0]) * 1e6 / hz / n))
		    print("syscalls/%s\t%.2f" % (unit, (a[1] - b[1]) / n))
		    print("ctx switches/%s\t%.2f" % (unit, (a[2] - b[2]) / n))
	PY
}

# json FILE EXPR: evaluate EXPR on the bench's JSON object `j`.
json() {
	"$PY" -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# run_bench FILE TIMEOUT ARGS...: strata-bench --json into FILE, bounded.
run_bench() {
	local file=$1 limit=$2
	shift 2
	timeout --kill-after=5 "$limit" "$BENCH" "$@" --ports "$PORTS" --json \
		--no-progress >"$file" 2>"$file.err" &
	BENCH_PID=$!
	wait "$BENCH_PID" || true
	BENCH_PID=
	[[ -s $file ]] || { echo "bench failed: $(tail -3 "$file.err")" >&2; return 1; }
}

# --- scenarios: each prints "metric<TAB>value" lines ---------------------
# idle N FILE [tls|ping]: resident memory per idle connection (plain or
# TLS).  ping: the connections are then held 30 s more with a 10 s
# keepalive, and the PINGREQs sent and answered are reported too.
idle() {
	local n=$1 file=$2 mode=${3:-} before after ready=$OUT/ready procs=1
	local sources=1 ports=$PORTS tls=() hold=600 keepalive=60
	if [[ $mode == tls ]]; then
		ports=$TLS_PORTS
		tls=(--tls --cafile "$TLS_DIR/ca.crt" --cert "$TLS_DIR/client.crt"
			--key "$TLS_DIR/client.key")
	fi
	[[ $mode == ping ]] && hold=30 keepalive=10
	((n > 15000)) && procs=$(((n + 14999) / 15000)) && sources=4
	rm -f "$ready"
	before=$(rss_kib)
	timeout --kill-after=5 $((n / 1000 + 90)) "$BENCH" conn --ports "$ports" "${tls[@]}" \
		--clients "$n" --rate 5000 --hold "$hold" --keepalive "$keepalive" \
		--procs "$procs" --sources "$sources" --ready-file "$ready" --json \
		--no-progress >"$file" 2>"$file.err" &
	BENCH_PID=$!
	while [[ ! -f $ready ]] && kill -0 "$BENCH_PID" 2>/dev/null; do sleep 0.2; done
	sleep 2
	after=$(rss_kib)
	[[ $mode == ping ]] || kill "$BENCH_PID" 2>/dev/null || true
	wait "$BENCH_PID" 2>/dev/null || true
	BENCH_PID=
	printf 'connected\t%s\n' "$(sed -n 's/connected=\([0-9]*\).*/\1/p' "$ready" 2>/dev/null)"
	printf 'KiB/conn\t%s\n' "$("$PY" -c "print(round(($after - $before) / $n, 2))")"
	if [[ $mode == ping ]]; then
		if [[ -s $file ]]; then
			printf 'pings answered\t%s\n' "$(json "$file" 'j["connections"]["pongs"]')"
			printf 'pings unanswered\t%s\n' "$(json "$file" 'j["connections"]["pings"] - j["connections"]["pongs"]')"
			printf 'closed early\t%s\n' "$(json "$file" 'j["connections"]["closed_early"]')"
		else
			echo "bench failed: $(tail -3 "$file.err")" >&2
		fi
	fi
}

scenario() {
	local name=$1 file=$2 d=$DURATION before after units
	before=$(counters)
	case $name in
	idle10k) idle 10000 "$file"; return ;;
	idle10k-tls) idle 10000 "$file" tls; return ;;
	idle100k) idle 100000 "$file" ping; return ;;
	pairs-qos0 | pairs-qos1)
		run_bench "$file" $((d + 60)) pubsub --pattern pairs --clients 100 \
			--qos "${name#pairs-qos}" --size 64 --duration "$d" || return 0
		printf 'msgs/s\t%s\n' "$(json "$file" 'round(j["messages"]["throughput_out"])')"
		printf 'lost\t%s\n' "$(json "$file" 'j["messages"]["lost"]')" ;;
	pairs-qos1-persistent)
		# pairs-qos1 with MQTT 3.1.1 Clean Session 0: every subscriber's
		# session is persistent (Strata writes it through to Redis)
		run_bench "$file" $((d + 60)) pubsub --pattern pairs --clients 100 \
			--qos 1 --size 64 --session-expiry 300 --duration "$d" || return 0
		printf 'msgs/s\t%s\n' "$(json "$file" 'round(j["messages"]["throughput_out"])')"
		printf 'lost\t%s\n' "$(json "$file" 'j["messages"]["lost"]')" ;;
	fanin-qos1)
		run_bench "$file" $((d + 60)) pubsub --pattern fanin --clients 1000 \
			--qos 1 --size 64 --inflight 1 --duration "$d" || return 0
		printf 'msgs/s\t%s\n' "$(json "$file" 'round(j["messages"]["throughput_out"])')"
		printf 'lost\t%s\n' "$(json "$file" 'j["messages"]["lost"]')" ;;
	fanout-qos0)
		run_bench "$file" $((d + 60)) pubsub --pattern fanout --clients 1000 \
			--qos 0 --size 64 --duration "$d" || return 0
		printf 'deliveries/s\t%s\n' "$(json "$file" 'round(j["messages"]["throughput_out"])')"
		printf 'lost\t%s\n' "$(json "$file" 'j["messages"]["lost"]')" ;;
	latency-qos1)
		run_bench "$file" $((d + 60)) pubsub --pattern pairs --clients 100 \
			--qos 1 --size 64 --rate 20000 --duration "$d" || return 0
		printf 'p50 us\t%s\n' "$(json "$file" 'round(j["messages"]["latency_us"]["p50"])')"
		printf 'p99 us\t%s\n' "$(json "$file" 'round(j["messages"]["latency_us"]["p99"])')"
		printf 'lost\t%s\n' "$(json "$file" 'j["messages"]["lost"]')" ;;
	connect-rate | connect-burst)
		# 100 pending: within Mosquitto's listen backlog (100), so this
		# measures connection handling; 1000 pending: a reconnect storm,
		# where a short backlog drops SYNs (retried after 1 s)
		local pending=100
		[[ $name == connect-burst ]] && pending=1000
		run_bench "$file" 120 conn --clients 10000 --rate 0 \
			--inflight "$pending" --hold 0 || return 0
		printf 'conn/s\t%s\n' "$(json "$file" 'round(j["connections"]["rate"])')"
		printf 'p99 connect us\t%s\n' "$(json "$file" 'round(j["connections"]["latency_us"]["p99"])')"
		printf 'failed\t%s\n' "$(json "$file" 'j["connections"]["failed"]')"
		after=$(counters)
		cost "$before" "$after" "$(json "$file" 'j["connections"]["connected"]')" conn
		return ;;
	*) die "unknown scenario $name" ;;
	esac
	after=$(counters)
	cost "$before" "$after" "$(json "$file" 'j["messages"]["received"]')" msg
}

median() {
	"$PY" -c 'import sys, statistics
v = [float(x) for x in sys.argv[1:] if x not in ("", "None")]
m = statistics.median(v) if v else None
print("n/a" if m is None else "%.0f" % m if abs(m) >= 100 else "%.3g" % m)' "$@"
}

# Results: RES[scenario|metric|target] = "v1 v2 ..."
declare -A RES
METRICS=()

record() {
	local sc=$1 target=$2 metric value key
	while IFS=$'\t' read -r metric value; do
		[[ -n $metric ]] || continue
		key="$sc|$metric"
		[[ " ${METRICS[*]} " == *" $key "* ]] || METRICS+=("$key")
		RES["$key|$target"]="${RES["$key|$target"]:-} $value"
		echo "  $sc $target run: $metric = $value" >&2
	done
}

# Throughput scenarios run thousands of publishes a second on each
# connection, far over the broker's per-connection defaults (AWS IoT's
# 100 publishes/s, 512 KiB/s): the brokers run with throttling off
# unless the caller set these (docs/internals/throttle.md).
export STRATA_THROTTLE_PUBLISH_RATE=${STRATA_THROTTLE_PUBLISH_RATE:-0}
export STRATA_THROTTLE_INBOUND_BYTES=${STRATA_THROTTLE_INBOUND_BYTES:-0}
export STRATA_THROTTLE_SUBSCRIBE_RATE=${STRATA_THROTTLE_SUBSCRIBE_RATE:-0}

fd_hard=$(ulimit -Hn)
# brokers and the bench inherit this; Debian's default soft limit is 1024
ulimit -n "$fd_hard"
for sc in "${SCENARIOS[@]}"; do
	targets=(s1 s2 s23 mosq)
	if [[ $sc == idle100k ]]; then
		# one process holds at most $fd_hard descriptors: Mosquitto (one
		# process) and 1-2 brokers cannot hold 100k; Strata runs 6 brokers
		targets=(s6)
		echo "idle100k: Mosquitto and the 1b/2b clusters skipped: one process may hold at most $fd_hard descriptors; Strata runs 6 brokers + 1 router" >&2
	fi
	for ((r = 1; r <= RUNS; r++)); do
		for t in "${targets[@]}"; do
			start_target "$t"
			scenario "$sc" "$OUT/$sc-$t-$r.json" >"$OUT/$sc-$t-$r.tsv"
			record "$sc" "$t" <"$OUT/$sc-$t-$r.tsv"
			stop_target
		done
	done
done

printf '\n| scenario | metric | Strata 1b+1r | Strata 2b+1r | Strata 2b+3r | Mosquitto | Strata(1b+1r)/Mosquitto |\n'
printf '|---|---|---|---|---|---|---|\n'
# the lists of values are split into arguments on purpose
# shellcheck disable=SC2086
for key in "${METRICS[@]}"; do
	s1=$(median ${RES["$key|s1"]:-})
	s2=$(median ${RES["$key|s2"]:-})
	s23=$(median ${RES["$key|s23"]:-})
	mq=$(median ${RES["$key|mosq"]:-})
	if [[ -n ${RES["$key|s6"]:-} ]]; then
		s2="$(median ${RES["$key|s6"]}) (6b+1r)"
	fi
	ratio=$("$PY" -c 'import sys
try:
    a, b = float(sys.argv[1]), float(sys.argv[2])
    print("%.2f" % (a / b) if b else "n/a")
except ValueError:
    print("n/a")' "$s1" "$mq")
	printf '| %s | %s | %s | %s | %s | %s | %s |\n' "${key%%|*}" "${key#*|}" \
		"$s1" "$s2" "$s23" "$mq" "$ratio"
done
echo
echo "medians of $RUNS runs; raw results in $OUT" >&2
