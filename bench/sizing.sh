#!/usr/bin/env bash
# Memory per subscription, per retained message and per device shadow
# (bench/RESULTS.md, "Memory per subscription, retained message and
# shadow"; docs/operations.md, "Sizing"):
#
#   bench/sizing.sh [--subscriptions 100000] [--retained 100000]
#                   [--size 100] [--shadows 20000] [--runs 1]
#                   [--inflight 1] [--persistent]
#                   [--base-port 12300] [--build DIR] [--out DIR]
#
# Each run starts a fresh local cluster (deploy/local/cluster.sh: 1
# broker, 1 router, 1 shadowd, no rulesd; throttling and metering off, so
# nothing else grows) and runs `strata-bench sizing` with a step file:
# the bench connects its clients (50 subscriptions each), then makes the
# subscriptions (distinct filters, SUBSCRIBEs of 8, every SUBACK
# awaited), then publishes the retained messages of --size bytes at QoS 1
# (every PUBACK awaited), then gives --shadows things a classic shadow
# with one small update each (every update/accepted awaited), and holds
# everything after each step until this script has measured (once
# Redis's used_memory has stayed the same for a second): VmRSS of the
# broker, the router and shadowd (/proc/PID/status), and Redis's
# used_memory (MEMORY STATS total.allocated, less the clients' and the
# AOF buffers) and VmRSS.  The growth of each step divided by the count
# the bench reports is the table, per process, in bytes.  --inflight:
# retained messages and shadow updates in flight per connection (1: what
# a process keeps for messages in flight during the load stays small
# beside what it keeps per item).  --persistent: MQTT 5 sessions with a
# Session Expiry Interval of an hour, whose subscriptions Redis keeps
# too.  A run takes about half a minute; everything started is stopped
# by PID (cluster.sh down) and every wait is bounded.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
SUBS=100000 RETAINED=100000 SIZE=100 SHADOWS=20000 RUNS=1 BASE=12300
INFLIGHT=1 EXPIRY=0
BUILD=$root/build OUT=
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3
while (($#)); do
	case $1 in
	--subscriptions) SUBS=$2; shift 2 ;;
	--retained) RETAINED=$2; shift 2 ;;
	--size) SIZE=$2; shift 2 ;;
	--shadows) SHADOWS=$2; shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	--inflight) INFLIGHT=$2; shift 2 ;;
	--persistent) EXPIRY=3600; shift ;;
	--base-port) BASE=$2; shift 2 ;;
	--build) BUILD=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	*) sed -n '2,30p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2 ;;
	esac
done
BENCH=$BUILD/bin/strata-bench
[[ -x $BENCH ]] || { echo "sizing.sh: $BENCH not found: build first" >&2; exit 1; }
OUT=${OUT:-$(mktemp -d "${TMPDIR:-/tmp}/strata-sizing.XXXXXX")}
mkdir -p "$OUT"
CLUSTER=$root/deploy/local/cluster.sh
DIR= BENCH_PID=

cleanup() {
	if [[ -n $BENCH_PID ]]; then
		kill "$BENCH_PID" 2>/dev/null || true
		wait "$BENCH_PID" 2>/dev/null || true
	fi
	[[ -z $DIR ]] || "$CLUSTER" down --dir "$DIR" >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# nothing else grows while the items are counted; the bench's clients
# publish and subscribe far over AWS's per-connection rates
export STRATA_THROTTLE_PUBLISH_RATE=0 STRATA_THROTTLE_INBOUND_BYTES=0
export STRATA_THROTTLE_SUBSCRIBE_RATE=0 STRATA_METERING_RETENTION_HOURS=0
# the broker and the bench hold a descriptor per connection
ulimit -n "$(ulimit -Hn)"

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# the first base from --base-port on whose 1-broker cluster ports are free
pick_base() {
	local p off ok
	for ((p = BASE; p < BASE + 5000; p += 100)); do
		ok=1
		for off in 0 3000 3500 4500 6000 7000 8000 8100 8200 8300 8400 8500; do
			port_free $((p + off)) || { ok=0; break; }
		done
		((ok)) && { echo "$p"; return; }
	done
	echo "sizing.sh: no free port range from $BASE" >&2
	exit 1
}

kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
sum_kib() { local s=0 p; for p in "$@"; do s=$((s + $(kib "$p"))); done; echo "$s"; }
# Redis's used_memory less what comes and goes with the load: the
# clients' buffers and the AOF buffer
redis_used() {
	REDISCLI_AUTH=$(<"$REDIS_PASSWORD_FILE") redis-cli --no-auth-warning \
		--user "$REDIS_USER" -p "$REDIS_PORT" MEMORY STATS |
		awk 'prev == "total.allocated" {t = $0}
		     prev ~ /^(clients\.normal|aof\.buffer)$/ {b += $0}
		     {prev = $0} END {print t - b}'
}
# Until Redis's used_memory stays the same for a second (at most 30 s),
# so what the step's last answers set going has landed
settle() {
	local last now i
	sleep 1
	last=$(redis_used)
	for ((i = 0; i < 30; i++)); do
		sleep 1
		now=$(redis_used)
		[[ $now == "$last" ]] && return
		last=$now
	done
}
# the filters of persistent sessions in Redis (their strata:subs hashes)
redis_subs() {
	((EXPIRY)) || { echo 0; return; }
	local cli=(redis-cli --no-auth-warning --user "$REDIS_USER" -p "$REDIS_PORT")
	REDISCLI_AUTH=$(<"$REDIS_PASSWORD_FILE") "${cli[@]}" --scan \
		--pattern 'strata:subs:*' | sed 's/^/HLEN /' |
		REDISCLI_AUTH=$(<"$REDIS_PASSWORD_FILE") "${cli[@]}" |
		awk '{s += $1} END {print s + 0}'
}
# measure RUN POINT COUNTS...: one line of the points file, memory in bytes
measure() {
	echo "$1 $2 redis_subs=$(redis_subs) broker=$(($(sum_kib $BROKER_PIDS) * 1024))" \
		"router=$(($(sum_kib $ROUTER_PIDS) * 1024))" \
		"shadowd=$(($(sum_kib $SHADOWD_PIDS) * 1024))" \
		"redis_used=$(redis_used) redis_rss=$(($(kib "$REDIS_PID") * 1024))" \
		"${*:3}" >>"$OUT/points.txt"
}

: >"$OUT/points.txt"
for ((run = 1; run <= RUNS; run++)); do
	DIR=$OUT/cluster-$run
	rm -rf "$DIR"
	"$CLUSTER" up --dir "$DIR" --brokers 1 --routers 1 --shadowd 1 \
		--rulesd 0 --base-port "$(pick_base)" --bin-dir "$BUILD/bin" \
		>"$OUT/cluster-$run.log" 2>&1 ||
		{ tail -5 "$OUT/cluster-$run.log" >&2; exit 1; }
	# shellcheck disable=SC1091
	. "$DIR/endpoints.env"
	sleep 3
	measure "$run" base
	step=$OUT/step-$run
	rm -f "$step"
	timeout --kill-after=10 900 "$BENCH" sizing --ports "$MQTT_PORTS" \
		--subscriptions "$SUBS" --retained "$RETAINED" --size "$SIZE" \
		--shadows "$SHADOWS" --inflight "$INFLIGHT" \
		--session-expiry "$EXPIRY" --step-file "$step" --hold 120 \
		--duration 840 --json --no-progress \
		>"$OUT/bench-$run.json" 2>"$OUT/bench-$run.err" &
	BENCH_PID=$!
	t0=$(date +%s)
	while kill -0 "$BENCH_PID" 2>/dev/null && (($(date +%s) - t0 < 900)); do
		if [[ -f $step ]]; then
			settle
			line=$(<"$step")
			measure "$run" "$(sed 's/^step=\([a-z]*\).*/\1/' <<<"$line")" \
				"${line#step=* }"
			echo "sizing: run $run: $line" >&2
			rm -f "$step"
		fi
		sleep 0.2
	done
	wait "$BENCH_PID" || echo "sizing.sh: the bench exited with $?" >&2
	BENCH_PID=
	"$CLUSTER" down --dir "$DIR" >/dev/null 2>&1 || true
	DIR=
done

"$PY" - "$OUT" <<'PY'
import json, sys

out = sys.argv[1]
points = {}
for line in open(out + "/points.txt"):
    f = line.split()
    run, name = f[0], f[1]
    points.setdefault(run, {})[name] = {
        k: int(v or 0) for k, v in (x.split("=", 1) for x in f[2:])}
procs = [("broker", "broker"), ("router", "router"), ("shadowd", "shadowd"),
         ("Redis used_memory", "redis_used"), ("Redis RSS", "redis_rss")]
steps = [("connection", "base", "connected", "connections"),
         ("subscription", "connected", "subscribed", "subscriptions"),
         ("retained message", "subscribed", "retained", "retained"),
         ("shadow", "retained", "shadows", "shadows")]
print("| run | item | count | " + " | ".join(p for p, _ in procs) +
      " | all |")
print("|---|---|---|" + "---|" * (len(procs) + 1))
for run in sorted(points):
    p = points[run]
    for item, a, b, count_key in steps:
        if a not in p or b not in p:
            continue
        n = p[b].get(count_key, 0)
        if count_key != "connections":
            n -= p[a].get(count_key, 0)
        if n <= 0:
            continue
        per = [(p[b][k] - p[a][k]) / n for _, k in procs]
        total = sum(per[:3]) + per[3]  # processes + Redis's data
        print("| %s | %s | %d | %s | %.0f |" % (
            run, item, n, " | ".join("%.0f" % x for x in per), total))
print()
for run in sorted(points):
    try:
        res = json.load(open("%s/bench-%s.json" % (out, run)))["sizing"]
    except (OSError, ValueError, KeyError):
        print("run %s: no result from the bench (bench-%s.err)" % (run, run))
        continue
    sub, ret, sh = res["subscriptions"], res["retained"], res["shadows"]
    stored = points[run].get("subscribed", {}).get("redis_subs", 0)
    if stored:
        print("run %s: persistent subscriptions in Redis when measured: %d"
              % (run, stored))
    print("run %s: subscriptions %d of %d granted in %.1f s; retained %d "
          "of %d acknowledged (%d refused) in %.1f s; shadows %d of %d "
          "accepted (%d rejected, %d lost) in %.1f s" % (
              run, sub["granted"], sub["asked"], sub["secs"], ret["acked"],
              ret["asked"], ret["refused"], ret["secs"], sh["accepted"],
              sh["asked"], sh["rejected"], sh["lost"], sh["secs"]))
print()
print("Bytes per item: growth of each process's VmRSS (Redis: also its "
      "used_memory less client and AOF buffers) over the step, divided "
      "by the items the bench counted; 'all' = broker + router + shadowd "
      "+ Redis used_memory.")
PY
echo "raw: $OUT" >&2
