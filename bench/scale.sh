#!/usr/bin/env bash
# Idle MQTT connections at scale on one machine, with QoS 1 traffic
# through them (bench/RESULTS.md, "A million connections"):
#
#   bench/scale.sh --connections N [--per-broker 19000] [--routers 2]
#                  [--hold S] [--keepalive 60] [--rate 1000] [--conn-rate 10000]
#                  [--base-port 10100] [--out DIR] [--build DIR]
#
# Starts deploy/local/cluster.sh with as many brokers as N needs at
# --per-broker connections each (a process may hold 20,000 descriptors
# here), connects N plain TCP clients (strata-bench conn, keepalive
# --keepalive, spread over 127.0.0.1..127.0.0.8 and over workers of at
# most 19,000 each), and once all are up: the memory of every process
# (VmRSS) and the kernel's socket memory (TCP pages of /proc/net/sockstat,
# and the slab caches of sockets), then a QoS 1 stream at --rate messages
# a second through 100 pairs of extra clients for 30 s (p50/p99 latency),
# then waits for --keepalive + 15 s more and reports, from the brokers'
# counters, the PINGREQs received and the PINGRESPs sent while held and
# the connections that ended.  Every loop is bounded (the clients hold
# --hold seconds at most, default N/500 + 600); everything it starts is
# stopped by PID.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
N=100000 PER=19000 ROUTERS=2 HOLD=0 KEEPALIVE=60 RATE=1000 CONN_RATE=10000
BASE=10100 OUT= BUILD=$root/build
PY=/usr/bin/python3
[[ -x $PY ]] || PY=python3
while (($#)); do
	case $1 in
	--connections) N=$2; shift 2 ;;
	--per-broker) PER=$2; shift 2 ;;
	--routers) ROUTERS=$2; shift 2 ;;
	--hold) HOLD=$2; shift 2 ;;
	--keepalive) KEEPALIVE=$2; shift 2 ;;
	--rate) RATE=$2; shift 2 ;;
	--conn-rate) CONN_RATE=$2; shift 2 ;;
	--base-port) BASE=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--build) BUILD=$2; shift 2 ;;
	*) sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2 ;;
	esac
done
BROKERS=$(((N + PER - 1) / PER))
PROCS=$(((N + 18999) / 19000))
((HOLD > 0)) || HOLD=$((N / 500 + 600))
OUT=${OUT:-$(mktemp -d /tmp/strata-scale.XXXXXX)}
DIR=$OUT/cluster
BENCH=$BUILD/bin/strata-bench
BENCH_PID=
mkdir -p "$OUT"

cleanup() {
	[[ -n $BENCH_PID ]] && kill "$BENCH_PID" 2>/dev/null || true
	"$root/deploy/local/cluster.sh" down --dir "$DIR" >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "scale: $N connections, $BROKERS brokers, $ROUTERS routers, $PROCS client workers" >&2
STRATA_THROTTLE_CONNECT_ADDRESS_RATE=0 STRATA_METERING_RETENTION_HOURS=0 \
	"$root/deploy/local/cluster.sh" up --dir "$DIR" --brokers "$BROKERS" \
	--routers "$ROUTERS" --shadowd 0 --rulesd 0 --base-port "$BASE" \
	--bin-dir "$BUILD/bin" >"$OUT/cluster.log" 2>&1 ||
	{ tail -5 "$OUT/cluster.log" >&2; exit 1; }
# shellcheck disable=SC1091
. "$DIR/endpoints.env"
ports=($MQTT_PORTS)

kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
sum_kib() { local s=0 p; for p in "$@"; do s=$((s + $(kib "$p"))); done; echo "$s"; }
sock_kib() {
	# TCP's buffer pages, and the slab of socket structures
	local pages slab
	pages=$(awk '/^TCP:/ {for (i = 1; i <= NF; i++) if ($i == "mem") print $(i + 1)}' /proc/net/sockstat)
	slab=$(awk '$1 ~ /^(TCP|sock_inode_cache|tcp_bind_bucket|request_sock_TCP)$/ {s += $3 * $4} END {print int(s / 1024)}' /proc/slabinfo 2>/dev/null || echo 0)
	echo "$((pages * 4)) $slab"
}
read -r sock0 slab0 < <(sock_kib)
b0=$(sum_kib $BROKER_PIDS) r0=$(sum_kib $ROUTER_PIDS) d0=$(sum_kib $REDIS_PID)

ready=$OUT/ready
timeout --kill-after=10 $((HOLD + 120)) "$BENCH" conn --ports "$MQTT_PORTS" \
	--clients "$N" --rate "$CONN_RATE" --hold "$HOLD" --keepalive "$KEEPALIVE" \
	--procs "$PROCS" --sources 8 --ready-file "$ready" --json --no-progress \
	>"$OUT/conn.json" 2>"$OUT/conn.err" &
BENCH_PID=$!
t0=$(date +%s)
while [[ ! -f $ready ]] && kill -0 "$BENCH_PID" 2>/dev/null; do
	sleep 1
	(($(date +%s) - t0 < HOLD + 60)) || break
done
up=$(($(date +%s) - t0))
[[ -f $ready ]] || { echo "scale: the clients did not all connect:" >&2
	tail -5 "$OUT/conn.err" >&2; }
sleep 5
read -r sock1 slab1 < <(sock_kib)
b1=$(sum_kib $BROKER_PIDS) r1=$(sum_kib $ROUTER_PIDS) d1=$(sum_kib $REDIS_PID)
bench_pids=$(pgrep -P "$BENCH_PID" || true)
c1=$(sum_kib $BENCH_PID $bench_pids)
held=$(sed -n 's/connected=\([0-9]*\).*/\1/p' "$ready" 2>/dev/null || echo 0)
# a sum over the brokers of the series of their /metrics matching $1
bsum() {
	local p
	for p in $BROKER_METRICS_PORTS; do
		curl -s --max-time 5 "http://127.0.0.1:$p/metrics" |
			awk -v re="$1" '$0 ~ re {s += $2} END {print s + 0}'
	done | awk '{s += $1} END {print s + 0}'
}
conns=$(bsum '^strata_broker_connections\\{')
ping0=$(bsum '^strata_broker_packets_received_total\\{type="pingreq"')
pong0=$(bsum '^strata_broker_packets_sent_total\\{type="pingresp"')
gone0=$(bsum '^strata_broker_disconnects_total')

# QoS 1 traffic through the loaded cluster
"$BENCH" pubsub --ports "${ports[0]} ${ports[-1]}" --pattern pairs --clients 100 \
	--qos 1 --size 64 --rate "$RATE" --duration 30 --json --no-progress \
	>"$OUT/traffic.json" 2>"$OUT/traffic.err" || true
# at least one keepalive round for every held client
sleep $((KEEPALIVE + 15 > 30 ? KEEPALIVE + 15 - 30 : 1))
ping1=$(bsum '^strata_broker_packets_received_total\\{type="pingreq"')
pong1=$(bsum '^strata_broker_packets_sent_total\\{type="pingresp"')
gone1=$(bsum '^strata_broker_disconnects_total')
conns1=$(bsum '^strata_broker_connections\\{')
kill "$BENCH_PID" 2>/dev/null || true
wait "$BENCH_PID" 2>/dev/null || true
BENCH_PID=

"$PY" - "$OUT" <<PY
import json, sys
out = sys.argv[1]
def load(name):
    try:
        return json.load(open(out + "/" + name))
    except Exception:
        return {}
conn, traffic = load("conn.json"), load("traffic.json")
n, held = $N, int("${held:-0}" or 0)
c = conn.get("connections", {})
m = traffic.get("messages", {})
lat = m.get("latency_us", {})
per = lambda kib: round(kib / max(held, 1), 2)
print("| figure | value |")
print("|---|---|")
print("| connections asked / held (bench) / open (brokers' gauge) | %d / %d / %s |" % (n, held, "${conns:-?}"))
print("| brokers, routers, client workers | $BROKERS, $ROUTERS, $PROCS |")
print("| time to connect all | ${up} s |")
print("| brokers' memory (VmRSS, all) | %d MiB, %s KiB per connection |" % (($b1) // 1024, per($b1 - $b0)))
print("| routers' memory | %d MiB (%+d MiB) |" % (($r1) // 1024, ($r1 - $r0) // 1024))
print("| Redis memory | %d MiB (%+d MiB) |" % (($d1) // 1024, ($d1 - $d0) // 1024))
print("| client workers' memory | %d MiB, %s KiB per connection |" % (($c1) // 1024, per($c1)))
print("| kernel: TCP buffer pages | %d MiB (%+d MiB), %s KiB per socket |" % (($sock1) // 1024, ($sock1 - $sock0) // 1024, round(($sock1 - $sock0) / max(2 * held, 1), 2)))
print("| kernel: socket slabs (TCP, sock_inode_cache) | %d MiB (%+d MiB), %s KiB per socket |" % (($slab1) // 1024, ($slab1 - $slab0) // 1024, round(($slab1 - $slab0) / max(2 * held, 1), 2)))
print("| PINGREQs received / PINGRESPs sent by the brokers while held | %d / %d |" % ($ping1 - $ping0, $pong1 - $pong0))
print("| connections ended while held (brokers' disconnects) / open at the end | %d / %s |" % ($gone1 - $gone0 - 200, "${conns1:-?}"))
print("| QoS 1 at $RATE msg/s: delivered / lost | %s / %s |" % (m.get("received"), m.get("lost")))
print("| QoS 1 latency p50 / p99 | %s / %s ms |" % (round(lat.get("p50", 0) / 1000, 2), round(lat.get("p99", 0) / 1000, 2)))
PY
echo "raw: $OUT" >&2
