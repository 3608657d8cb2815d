#!/usr/bin/env bash
# The rules engine through MQTT: messages one strata-rulesd evaluates per
# second, and the latency a republish adds, measured with strata-bench's
# rules mode.
#
#   bench/rules.sh [--runs N] [--duration S] [--rate "R ..."] [--clients N]
#                  [--build DIR] [--out DIR]
#
# Starts a local cluster (deploy/local/cluster.sh: 1 broker, 1 router,
# 1 rulesd, no shadowd) on a free base port, creates two rules with the
# admin API (curl):
#   bench_simple  SELECT * FROM 'bench/rules/+/data'
#   bench_five    SELECT upper(device) AS d, round(temperature) AS t,
#                 concat(device, '-', seq) AS id, abs(delta) AS a,
#                 timestamp() AS at, ts FROM 'bench/rules5/+/data'
#                 WHERE temperature > 20 AND seq % 2 = 0
# each republishing at QoS 1 to bench/rules-out/${topic(3)}, then runs,
# ALTERNATING, --runs times each (default 3) for --duration S (default 10):
#   simple, five, direct    as fast as the windows allow (--inflight 64
#                           per publisher, end to end)
#   simple@R, five@R, direct@R   open loop at --rate R messages/s in
#                           total (1000; several: --rate "1000 10000")
# with --clients N publishers (10) and one subscriber.  direct publishes
# on bench/direct/+/data, which no rule reads, and subscribes to it: the
# same path without a rule.  Around each run it reads rulesd's /metrics
# (the rule's matched_total and eval_microseconds_total) and the CPU time
# of rulesd, the broker and the router (/proc/PID/stat).  Prints a
# markdown table of medians (ranges in brackets); raw JSON stays in --out.
# Builds nothing (expects DIR/bin, default build/bin); stops every
# process it started, by PID, on exit (cluster.sh down).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
RUNS=3
DURATION=10
RATE=1000
CLIENTS=10
BUILD=$root/build
OUT=
PY=${PYTHON:-/usr/bin/python3}
[[ -x $PY ]] || PY=python3

die() {
	echo "rules.sh: $*" >&2
	exit 1
}

usage() {
	awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' \
		"${BASH_SOURCE[0]}"
	exit 2
}

while (($#)); do
	case $1 in
	--runs) RUNS=$2; shift 2 ;;
	--duration) DURATION=$2; shift 2 ;;
	--rate) RATE=$2; shift 2 ;;
	--clients) CLIENTS=$2; shift 2 ;;
	--build) BUILD=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	-h | --help) usage ;;
	*) die "unknown argument $1" ;;
	esac
done
[[ $RUNS =~ ^[1-9][0-9]?$ ]] || die "--runs must be 1..99"
[[ $DURATION =~ ^[1-9][0-9]?$ ]] || die "--duration must be 1..99 seconds"
[[ $RATE =~ ^[1-9][0-9]*( [1-9][0-9]*)*$ ]] ||
	die "--rate must be positive numbers, space separated"
[[ $CLIENTS =~ ^[1-9][0-9]{0,3}$ ]] || die "--clients must be 1..9999"
BIN=$BUILD/bin
BENCH=$BIN/strata-bench
[[ -x $BENCH ]] || die "$BENCH not found: build first"
command -v curl >/dev/null || die "curl not found"
command -v "$PY" >/dev/null || die "$PY not found (set PYTHON)"
[[ -n $OUT ]] || OUT=$(mktemp -d "${TMPDIR:-/tmp}/strata-rules.XXXXXX")
mkdir -p "$OUT"
CLUSTER=$root/deploy/local/cluster.sh
CLUSTER_DIR=
BENCH_PID=

cleanup() {
	if [[ -n $BENCH_PID ]]; then
		kill "$BENCH_PID" 2>/dev/null || true
		wait "$BENCH_PID" 2>/dev/null || true
	fi
	if [[ -n $CLUSTER_DIR ]]; then
		"$CLUSTER" down --dir "$CLUSTER_DIR" >/dev/null 2>&1 || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# A base port whose cluster ports are free, below Linux's ephemeral range
# (32768), where the bench's own client sockets would collide.
pick_base() {
	local p off ok
	for ((p = 12000 + RANDOM % 60 * 100; p < 24000; p += 100)); do
		ok=1
		for off in 0 4500 6000 7000 8000 8100 8200 8600; do
			port_free $((p + off)) || { ok=0; break; }
		done
		((ok)) && { echo "$p"; return; }
	done
	die "no free port range found"
}

# --- the cluster and the rules ---------------------------------------------
base=$(pick_base)
CLUSTER_DIR=$OUT/cluster
rm -rf "$CLUSTER_DIR"
"$CLUSTER" up --dir "$CLUSTER_DIR" --brokers 1 --routers 1 --shadowd 0 \
	--rulesd 1 --base-port "$base" --bin-dir "$BIN" >"$OUT/cluster-up.log" 2>&1 ||
	die "cluster.sh up failed; see $OUT/cluster-up.log"
# shellcheck disable=SC1091
. "$CLUSTER_DIR/endpoints.env"
PORTS=$MQTT_PORTS
METRICS_URL=http://$HOST:${RULESD_METRICS_PORTS%% *}/metrics

create_rule() {
	local name=$1 sql=$2 code
	"$PY" -c 'import json, sys
print(json.dumps({"sql": sys.argv[1], "ruleDisabled": False,
    "awsIotSqlVersion": "2016-03-23",
    "actions": [{"republish": {"topic": "bench/rules-out/${topic(3)}",
                               "qos": 1}}]}))' "$sql" >"$OUT/rule-$name.json"
	code=$(curl -s -o "$OUT/rule-$name.answer" -w '%{http_code}' -X POST \
		-H "Authorization: Bearer $ADMIN_TOKEN" \
		-H 'Content-Type: application/json' \
		--data-binary "@$OUT/rule-$name.json" "$ADMIN_URL/rules/$name")
	[[ $code == 200 ]] || die "creating rule $name: HTTP $code: $(cat "$OUT/rule-$name.answer")"
}
create_rule bench_simple "SELECT * FROM 'bench/rules/+/data'"
create_rule bench_five "SELECT upper(device) AS d, round(temperature) AS t, concat(device, '-', seq) AS id, abs(delta) AS a, timestamp() AS at, ts FROM 'bench/rules5/+/data' WHERE temperature > 20 AND seq % 2 = 0"

# rulesd has both rules once its table says 2 (it learns of them on the
# strata:rules channel), and their share subscriptions are up once a
# short run gets every output back.
metric() { # NAME RULE: the value in rulesd's /metrics, 0 when absent
	curl -s --max-time 5 "$METRICS_URL" | awk -v n="$1" -v r="$2" '
		$1 == n || index($1, n "{rule=\"" r "\"") == 1 { v = $2 }
		END { printf "%s\n", v == "" ? 0 : v }'
}
for ((i = 0; i < 100; i++)); do
	(($(metric strata_rulesd_rules "") >= 2)) && break
	sleep 0.1
done
(($(metric strata_rulesd_rules "") >= 2)) || die "rulesd did not load the rules"
for topic in bench/rules/%i/data bench/rules5/%i/data; do
	for ((i = 0; i < 10; i++)); do
		expect=all
		[[ $topic == bench/rules5/* ]] && expect=even
		"$BENCH" rules --ports "$PORTS" --topic "$topic" --expect $expect \
			--clients 2 --count 10 --duration 5 --drain 2 --no-progress \
			--expect-no-loss >"$OUT/warmup.log" 2>&1 && break
		sleep 0.5
	done
	((i < 10)) || die "rule for $topic gives no outputs; see $OUT/warmup.log"
done

# --- one run -----------------------------------------------------------------
cpu_ticks() { # PID: user + system clock ticks
	awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0
}

# CPU seconds (user + system) of this shell's reaped children (the bench
# between two calls).  `times` must run in this shell, not in a pipeline
# or a command substitution, whose subshell has children of its own.
children_cpu() {
	times >"$OUT/times"
	awk 'NR == 2 {
		split($1, u, /[ms]/); split($2, s, /[ms]/)
		printf "%.2f\n", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$OUT/times"
}

# scenario NAME: topic, --expect, rule (metrics label), --direct, --rate
run_one() {
	local name=$1 run=$2 topic expect rule direct=() rate=() m0 m1 e0 e1
	local r0 r1 b0 b1 t0 t1 c0 c1 file=$OUT/$name-$run.json
	case ${name%@*} in
	simple) topic=bench/rules/%i/data expect=all rule=bench_simple ;;
	five) topic=bench/rules5/%i/data expect=even rule=bench_five ;;
	direct) topic=bench/direct/%i/data expect=all rule= direct=(--direct) ;;
	esac
	[[ $name == *@* ]] && rate=(--rate "${name#*@}")
	m0=$(metric strata_rulesd_matched_total "$rule")
	e0=$(metric strata_rulesd_eval_microseconds_total "$rule")
	r0=$(cpu_ticks "$RULESD_PIDS") b0=$(cpu_ticks "$BROKER_PIDS")
	t0=$(cpu_ticks "$ROUTER_PIDS")
	children_cpu >"$OUT/cpu0"
	"$BENCH" rules --ports "$PORTS" --topic "$topic" --expect $expect \
		"${direct[@]}" "${rate[@]}" --clients "$CLIENTS" \
		--duration "$DURATION" --json --no-progress \
		>"$file.bench" 2>"$OUT/$name-$run.err" &
	BENCH_PID=$!
	wait "$BENCH_PID" || true
	BENCH_PID=
	children_cpu >"$OUT/cpu1"
	c0=$(cat "$OUT/cpu0") c1=$(cat "$OUT/cpu1")
	m1=$(metric strata_rulesd_matched_total "$rule")
	e1=$(metric strata_rulesd_eval_microseconds_total "$rule")
	r1=$(cpu_ticks "$RULESD_PIDS") b1=$(cpu_ticks "$BROKER_PIDS")
	t1=$(cpu_ticks "$ROUTER_PIDS")
	"$PY" - "$file.bench" "$name" "$((${m1%.*} - ${m0%.*}))" \
		"$((${e1%.*} - ${e0%.*}))" "$((r1 - r0))" "$((b1 - b0))" \
		"$((t1 - t0))" "$(getconf CLK_TCK)" "$c0" "$c1" >"$file" <<-'PYEOF'
		import json, sys
		path, name, matched, eval_us, rt, bt, tt, hz, c0, c1 = sys.argv[1:]
		b = json.load(open(path))
		m = b["messages"]
		# first reading to last output: the time rulesd was evaluating
		secs = m["recv_secs"] or 1e-9
		print(json.dumps({
		    "name": name, "sent": m["sent"], "received": m["received"],
		    "expected": m["expected"], "lost": m["lost"],
		    "unexpected": m["unexpected"], "dups": m["duplicated"],
		    "in": m["throughput_in"], "out": m["throughput_out"],
		    "matched": int(matched),
		    "eval_per_s": int(matched) / secs,
		    "eval_us": int(eval_us) / int(matched) if int(matched) else 0,
		    "p50": m["latency_us"]["p50"], "p90": m["latency_us"]["p90"],
		    "p99": m["latency_us"]["p99"], "max": m["latency_us"]["max"],
		    # CPU time over the whole run (connects and the drain
		    # included) per second of sending: % of one core
		    "cpu_rulesd": 100.0 * int(rt) / int(hz) / secs,
		    "cpu_broker": 100.0 * int(bt) / int(hz) / secs,
		    "cpu_router": 100.0 * int(tt) / int(hz) / secs,
		    "cpu_bench": 100.0 * (float(c1) - float(c0)) / secs,
		    "secs": secs}))
	PYEOF
}

SCENARIOS=(simple five direct)
for r in $RATE; do
	SCENARIOS+=("simple@$r" "five@$r" "direct@$r")
done
echo "rules.sh: ${#SCENARIOS[@]} scenarios x $RUNS runs x ${DURATION}s," \
	"$CLIENTS publishers; load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for ((run = 1; run <= RUNS; run++)); do
	for s in "${SCENARIOS[@]}"; do
		echo "rules.sh: run $run/$RUNS $s" >&2
		run_one "$s" "$run"
	done
done
echo "rules.sh: load after: $(cut -d' ' -f1-3 /proc/loadavg); raw results in $OUT" >&2

# --- the table ---------------------------------------------------------------
"$PY" - "$OUT" "$RUNS" "${SCENARIOS[@]}" <<-'PYEOF'
	import json, statistics, sys
	out, runs, names = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
	rows = {n: [json.load(open(f"{out}/{n}-{r}.json"))
	            for r in range(1, runs + 1)] for n in names}

	def med(n, k):
	    return statistics.median(x[k] for x in rows[n])

	def cell(n, k, fmt="{:.0f}"):
	    v = [x[k] for x in rows[n]]
	    s = fmt.format(statistics.median(v))
	    if len(v) > 1:
	        s += " [" + fmt.format(min(v)) + "-" + fmt.format(max(v)) + "]"
	    return s

	print("| scenario | published/s | outputs/s | evaluated/s (rulesd) "
	      "| eval us/msg | p50 us | p90 us | p99 us | max us "
	      "| lost / expected | CPU % rulesd / broker / router / bench |")
	print("|---|---|---|---|---|---|---|---|---|---|---|")
	for n in names:
	    rule = not n.startswith("direct")
	    print("| " + " | ".join([
	        n, cell(n, "in"), cell(n, "out"),
	        cell(n, "eval_per_s") if rule else "-",
	        cell(n, "eval_us", "{:.1f}") if rule else "-",
	        cell(n, "p50"), cell(n, "p90"), cell(n, "p99"), cell(n, "max"),
	        "%d / %d" % (sum(x["lost"] for x in rows[n]),
	                     sum(x["expected"] for x in rows[n])),
	        "%.0f / %.0f / %.0f / %.0f" % (
	            med(n, "cpu_rulesd"), med(n, "cpu_broker"),
	            med(n, "cpu_router"), med(n, "cpu_bench"))]) + " |")
	print()
	for n in names:
	    if n.startswith("direct"):
	        continue
	    d = "direct" + (n[n.index("@"):] if "@" in n else "")
	    if d in rows:
	        print("added latency of %s over %s: p50 %+.0f us, p99 %+.0f us"
	              % (n, d, med(n, "p50") - med(d, "p50"),
	                 med(n, "p99") - med(d, "p99")))
PYEOF
