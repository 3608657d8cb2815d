#!/usr/bin/env bash
# Strata local cluster on loopback: Redis, routers and brokers as plain
# processes, with generated development certificates.
#
#   cluster.sh up   --dir DIR [--brokers N] [--routers M] [--shadowd K]
#                   [--rulesd R]
#                   [--base-port P] [--bin-dir BINDIR] [--lb] [--redis-ha]
#   cluster.sh down --dir DIR
#   cluster.sh run  --dir DIR [same options as up]   (foreground; Ctrl-C stops)
#
# Ports, from the base port P (default 1883); at most 100 brokers and
# 100 routers:
#   broker i (0-based): MQTT P+i, MQTTS P+7000+i, metrics P+8000+i,
#                       admin API P+8200+i, MQTT over WebSocket
#                       (ws://HOST:PORT/mqtt) P+3000+i, the same over TLS
#                       (wss://) P+3500+i
#   router j:           link P+6000+j, metrics P+8100+j
#   shadowd k (--shadowd K, default 1; 0: none): metrics P+8300+k,
#                       HTTP shadow API P+8400+k, HTTPS data plane
#                       (device certificates: shadows, publish, retained
#                       messages) P+8500+k
#   rulesd r (--rulesd R, default 1; 0: none): metrics P+8600+r; its file
#                       actions write under DIR/rules-files
#   redis:              P+4500
# --lb also starts HAProxy (deploy/haproxy/strata.cfg, filled in as
# DIR/haproxy.cfg) in front of PROXY protocol listeners on every broker:
#   broker i:           PROXY P+5000+i, PROXY TLS P+5500+i
#   HAProxy:            MQTT P+4000, MQTTS P+4001 (TLS passed through to
#                       the brokers), stats page P+4002, HTTPS data plane
#                       P+4003 (TLS passed through to the shadowds), ws
#                       P+4004 and wss P+4005 (passed through to the
#                       brokers' ws and wss ports, without a PROXY header)
# --redis-ha runs Redis as production does: a primary (P+4500), two
# replicas (P+4501, P+4502) and three Redis Sentinels (P+4510..P+4512,
# master name "strata", quorum 2, a primary down after 1 s); every daemon
# asks the sentinels for the primary and waits for one replica on the
# writes an acknowledgement depends on (--redis-wait-replicas 1).
# `up` writes DIR/endpoints.env (shell syntax) for users, scripts and tests:
#   HOST MQTT_PORTS MQTTS_PORTS WS_PORTS WSS_PORTS (MQTT over WebSocket,
#   path /mqtt) METRICS_PORTS BROKER_METRICS_PORTS
#   ROUTER_METRICS_PORTS ROUTER_PORTS REDIS_PORT PIDS CA_FILE CLIENT_CERT
#   CLIENT_KEY LOG_DIR BROKER_PIDS ROUTER_PIDS REDIS_PID
#   LB_PORT LB_TLS_PORT LB_STATS_PORT LB_HTTPS_PORT LB_WS_PORT LB_WSS_PORT
#   LB_PID PROXY_PORTS PROXY_TLS_PORTS
#   SHADOWD_PIDS SHADOWD_METRICS_PORTS SHADOWD_HTTP_PORTS (device shadows,
#   docs/internals/shadowd.md), DATA_URL (the first one's HTTP shadow API;
#   stratactl's shadow commands read it as STRATA_DATA_URL),
#   SHADOWD_HTTPS_PORTS and DATA_HTTPS_URL (the same over HTTPS for
#   devices: CLIENT_CERT and CLIENT_KEY, verified against CA_FILE),
#   HTTPS_PORTS (the device data plane over HTTPS, the managed service's
#   port 8443: the shadowds' HTTPS ports, the same as SHADOWD_HTTPS_PORTS;
#   docs/internals/data-plane.md)
#   RULESD_PIDS RULESD_METRICS_PORTS RULES_FILE_DIR (the rules engine,
#   docs/internals/rulesd.md)
#   (the LB_* and PROXY_* ones are empty without --lb)
#   CLUSTER_SECRET_FILE (the secret node links prove; routers refuse a
#   broker without it)
#   REDIS_SENTINELS (host:port,...) REDIS_MASTER_NAME REDIS_PRIMARY_PID
#   REDIS_REPLICA_PIDS REDIS_SENTINEL_PIDS REDIS_REPLICA_PORTS
#   REDIS_SENTINEL_PORTS (empty without --redis-ha; REDIS_PORT and
#   REDIS_PID are the first primary's)
#   ADMIN_URL (broker 0's admin API; stratactl reads it as
#   STRATA_ADMIN_URL), ADMIN_URLS (every broker's), ADMIN_TOKEN and
#   ADMIN_TOKEN_FILE (its bearer token; STRATA_ADMIN_TOKEN),
#   ADMIN_ACCESS_KEY_ID (the bootstrap admin identity's access key, whose
#   secret is ADMIN_TOKEN: STRATA_ACCESS_KEY_ID, STRATA_SECRET_ACCESS_KEY)
#   CONSOLE_URL (broker 0's web console; log in with ADMIN_TOKEN;
#   docs/internals/console.md)
# The development CA (CA_FILE, its key beside it) signs what
# `stratactl create-keys-and-certificate` makes.  CLIENT_CERT is
# registered ACTIVE with the policy "strata-dev" attached, which allows
# everything: TLS clients need a registered certificate (tls-auth
# registry), and the development one just works.
#   REDIS_USER REDIS_PASSWORD_FILE (Redis wants AUTH: its default user is
#   off; the daemons are ACL user REDIS_USER, allowed the strata:* keys and
#   channels and no @dangerous command but ROLE, with the password in
#   REDIS_PASSWORD_FILE, e.g.
#     REDISCLI_AUTH=$(cat "$REDIS_PASSWORD_FILE") redis-cli --user "$REDIS_USER" -p "$REDIS_PORT")
#   REDIS_SENTINEL_PASSWORD_FILE (--redis-ha: the sentinels' own password,
#   their requirepass; empty without --redis-ha)
# Every Redis server reads DIR/<its dir>/redis.conf (mode 600: the ACL
# users with hashed passwords); with --redis-ha the replicas and the
# sentinels reach the data nodes as users "replica" and "sentinel", each
# allowed only what replication and failover need, with the password in
# DIR/redis-internal.password (in clear in redis.conf as masterauth and in
# the sentinels' sentinel.conf, all mode 600).
# `down` stops exactly the processes listed in PIDS (HAProxy included).
# Environment variables STRATA_* are passed on to every daemon (e.g.
# STRATA_LOG_LEVEL=debug).
set -euo pipefail

HOST=127.0.0.1
# the ACL user of the daemons in Redis
REDIS_USER=strata
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

# The comment at the top of this file, up to the first line of code.
usage() {
	awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' \
		"${BASH_SOURCE[0]}"
	exit 2
}

die() {
	echo "cluster.sh: $*" >&2
	exit 1
}

port_in_use() {
	(exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# wait_port PORT PID NAME: until PORT accepts connections; fail if PID dies.
wait_port() {
	local port=$1 pid=$2 name=$3 i
	for ((i = 0; i < 200; i++)); do
		port_in_use "$port" && return 0
		kill -0 "$pid" 2>/dev/null ||
			die "$name exited during start-up; see $LOG_DIR/$name.log"
		sleep 0.05
	done
	die "$name did not listen on port $port within 10 s; see $LOG_DIR/$name.log"
}

# Start a daemon in the background; its PID goes to PIDS.  Under umask
# 077: Redis and the sentinels rewrite their configuration files (CONFIG
# REWRITE on a failover), which hold passwords, with the process's umask.
PIDS=()
start() {
	local name=$1
	shift
	(umask 077 && exec "$@") >"$LOG_DIR/$name.log" 2>&1 &
	PIDS+=("$!")
	echo "$!" >>"$DIR/pids"
}

parse() {
	DIR= BROKERS=1 ROUTERS=1 BASE=1883 BIN_DIR=${STRATA_BIN_DIR:-$root/build/bin}
	LB=0 REDIS_HA=0 SHADOWD=1 RULESD=1
	while (($#)); do
		case $1 in
		--dir) DIR=$2; shift 2 ;;
		--lb) LB=1; shift ;;
		--redis-ha) REDIS_HA=1; shift ;;
		--brokers) BROKERS=$2; shift 2 ;;
		--routers) ROUTERS=$2; shift 2 ;;
		--shadowd) SHADOWD=$2; shift 2 ;;
		--rulesd) RULESD=$2; shift 2 ;;
		--base-port) BASE=$2; shift 2 ;;
		--bin-dir) BIN_DIR=$2; shift 2 ;;
		-h | --help) usage ;;
		*) die "unknown argument '$1' (try --help)" ;;
		esac
	done
	[[ -n $DIR ]] || die "--dir DIR is required"
	[[ $BROKERS =~ ^[1-9][0-9]*$ ]] || die "--brokers must be a positive number"
	[[ $ROUTERS =~ ^[1-9][0-9]*$ ]] || die "--routers must be a positive number"
	[[ $SHADOWD =~ ^[0-9]+$ ]] && ((SHADOWD <= 100)) ||
		die "--shadowd must be a number from 0 to 100"
	[[ $RULESD =~ ^[0-9]+$ ]] && ((RULESD <= 100)) ||
		die "--rulesd must be a number from 0 to 100"
	# beyond 100, broker metrics (P+8000+i) meet router metrics (P+8100+j)
	((BROKERS <= 100 && ROUTERS <= 100)) ||
		die "at most 100 brokers and 100 routers (the port layout)"
	[[ $BASE =~ ^[0-9]+$ ]] && ((BASE >= 1024 && BASE + 8700 < 65536)) ||
		die "--base-port must leave room for P+8700 below 65536"
	mkdir -p "$DIR"
	DIR=$(cd "$DIR" && pwd)
	LOG_DIR=$DIR/logs
}

join() {
	local IFS=' '
	echo "$*"
}

cmd_up() {
	parse "$@"
	if [[ -f $DIR/pids ]]; then
		local p
		for p in $(cat "$DIR/pids"); do
			kill -0 "$p" 2>/dev/null &&
				die "a cluster is already running from $DIR (pid $p); run 'cluster.sh down --dir $DIR' first"
		done
	fi
	for b in broker router $( ((SHADOWD)) && echo shadowd) $( ((RULESD)) && echo rulesd); do
		[[ -x $BIN_DIR/strata-$b ]] || die "$BIN_DIR/strata-$b not found: build first (make build)"
	done
	command -v redis-server >/dev/null || die "redis-server not found: run deploy/deps.sh"
	((LB == 0)) || command -v haproxy >/dev/null ||
		die "haproxy not found: run deploy/deps.sh"
	((REDIS_HA == 0)) || command -v redis-sentinel >/dev/null ||
		die "redis-sentinel not found: run deploy/deps.sh"

	local redis_port=$((BASE + 4500)) mqtt=() mqtts=() bmet=() admin=() rmet=() rlink=() i
	local proxy=() proxy_tls=() lb_ports=() broker_args ws=() wss=()
	local broker_pids=() router_pids=() redis_pid lb_pid=
	local shadowd_pids=() smet=() shttp=() shttps=() rulesd_pids=() rmet_rules=()
	local replica_ports=() sentinel_ports=() replica_pids=() sentinel_pids=()
	local redis_args sentinels=
	for ((i = 0; i < BROKERS; i++)); do
		mqtt+=($((BASE + i)))
		mqtts+=($((BASE + 7000 + i)))
		bmet+=($((BASE + 8000 + i)))
		admin+=($((BASE + 8200 + i)))
		ws+=($((BASE + 3000 + i)))
		wss+=($((BASE + 3500 + i)))
		if ((LB)); then
			proxy+=($((BASE + 5000 + i)))
			proxy_tls+=($((BASE + 5500 + i)))
		fi
	done
	for ((i = 0; i < SHADOWD; i++)); do
		smet+=($((BASE + 8300 + i)))
		shttp+=($((BASE + 8400 + i)))
		shttps+=($((BASE + 8500 + i)))
	done
	for ((i = 0; i < RULESD; i++)); do
		rmet_rules+=($((BASE + 8600 + i)))
	done
	for ((i = 0; i < ROUTERS; i++)); do
		rlink+=($((BASE + 6000 + i)))
		rmet+=($((BASE + 8100 + i)))
	done
	((LB == 0)) || lb_ports=($((BASE + 4000)) $((BASE + 4001)) $((BASE + 4002))
		$((BASE + 4003)) $((BASE + 4004)) $((BASE + 4005)))
	if ((REDIS_HA)); then
		replica_ports=($((BASE + 4501)) $((BASE + 4502)))
		sentinel_ports=($((BASE + 4510)) $((BASE + 4511)) $((BASE + 4512)))
	fi
	for p in "$redis_port" "${mqtt[@]}" "${mqtts[@]}" "${ws[@]}" "${wss[@]}" \
		"${bmet[@]}" "${admin[@]}" "${rlink[@]}" \
		"${smet[@]}" "${shttp[@]}" "${shttps[@]}" "${rmet_rules[@]}" \
		"${rmet[@]}" "${proxy[@]}" "${proxy_tls[@]}" "${lb_ports[@]}" \
		"${replica_ports[@]}" "${sentinel_ports[@]}"; do
		port_in_use "$p" && die "port $p is already in use; choose another --base-port"
	done

	mkdir -p "$LOG_DIR" "$DIR/redis"
	rm -f "$DIR/pids" "$DIR/endpoints.env"
	"$here/gen-certs.sh" "$DIR/certs" || die "certificate generation failed"
	# the secret node links prove (a router refuses a broker without it)
	secret_file "$DIR/cluster.secret" 32
	# the bootstrap admin identity's access key: its secret is the admin
	# API's bearer token.  Both are kept across starts, since Redis keeps
	# the identity (a new secret would not match the stored one).
	[[ -s $DIR/admin.token ]] || secret_file "$DIR/admin.token" 24
	[[ -s $DIR/admin.key-id ]] ||
		(umask 077 && printf 'AKIA%s\n' "$(openssl rand -hex 8 | tr a-f A-F)" \
			>"$DIR/admin.key-id") || die "could not write $DIR/admin.key-id"
	# Redis's passwords: the daemons' user; with --redis-ha also the
	# replication and failover users' and the sentinels' own
	secret_file "$DIR/redis.password" 24
	if ((REDIS_HA)); then
		secret_file "$DIR/redis-internal.password" 24
		secret_file "$DIR/redis-sentinel.password" 24
	fi
	trap 'echo "cluster.sh: start-up failed, stopping what was started" >&2; stop_pids "$DIR/pids"' EXIT

	redis_conf "$DIR/redis/redis.conf"
	start redis redis-server "$DIR/redis/redis.conf" --bind "$HOST" \
		--port "$redis_port" --save '' --appendonly yes \
		--appendfsync everysec --dir "$DIR/redis" --daemonize no
	wait_port "$redis_port" "${PIDS[-1]}" redis
	redis_pid=${PIDS[-1]}
	redis_args=(--redis-host "$HOST" --redis-port "$redis_port")
	if ((REDIS_HA)); then
		redis_ha
		redis_args=(--redis-sentinels "$sentinels" --redis-master-name strata
			--redis-wait-replicas 1
			--redis-sentinel-password-file "$DIR/redis-sentinel.password")
	fi
	redis_args+=(--redis-user "$REDIS_USER" --redis-password-file "$DIR/redis.password")

	for ((i = 0; i < ROUTERS; i++)); do
		start "router-$i" "$BIN_DIR/strata-router" --node-id "router-$i" \
			--bind "$HOST" --port "${rlink[i]}" --metrics-port "${rmet[i]}" \
			--cluster-secret-file "$DIR/cluster.secret" "${redis_args[@]}"
		wait_port "${rlink[i]}" "${PIDS[-1]}" "router-$i"
		router_pids+=("${PIDS[-1]}")
	done
	for ((i = 0; i < BROKERS; i++)); do
		broker_args=()
		((LB == 0)) || broker_args=(--proxy-port "${proxy[i]}"
			--proxy-tls-port "${proxy_tls[i]}")
		# the web console's shadow calls go to the first shadowd
		((SHADOWD == 0)) ||
			broker_args+=(--shadow-http-url "http://$HOST:${shttp[0]}")
		start "broker-$i" "$BIN_DIR/strata-broker" --node-id "broker-$i" \
			--bind "$HOST" --port "${mqtt[i]}" --tls-port "${mqtts[i]}" \
			--ws-port "${ws[i]}" --wss-port "${wss[i]}" \
			--tls-cert "$DIR/certs/server.crt" --tls-key "$DIR/certs/server.key" \
			--tls-ca "$DIR/certs/ca.crt" --metrics-port "${bmet[i]}" \
			--admin-port "${admin[i]}" --admin-token-file "$DIR/admin.token" \
			--admin-bootstrap-key-id "$(cat "$DIR/admin.key-id")" \
			--registry-ca-cert "$DIR/certs/ca.crt" \
			--registry-ca-key "$DIR/certs/ca.key" \
			--cluster-secret-file "$DIR/cluster.secret" \
			"${redis_args[@]}" "${broker_args[@]}"
		wait_port "${mqtt[i]}" "${PIDS[-1]}" "broker-$i"
		wait_port "${mqtts[i]}" "${PIDS[-1]}" "broker-$i"
		broker_pids+=("${PIDS[-1]}")
	done
	wait_ready "${bmet[@]}"
	register_dev_client "http://$HOST:${admin[0]}"
	for ((i = 0; i < SHADOWD; i++)); do
		start "shadowd-$i" "$BIN_DIR/strata-shadowd" --node-id "shadowd-$i" \
			--bind "$HOST" --metrics-port "${smet[i]}" --http-port "${shttp[i]}" \
			--https-port "${shttps[i]}" --tls-cert "$DIR/certs/server.crt" \
			--tls-key "$DIR/certs/server.key" --tls-ca "$DIR/certs/ca.crt" \
			--registry-ca-cert "$DIR/certs/ca.crt" \
			--admin-token-file "$DIR/admin.token" \
			--admin-bootstrap-key-id "$(cat "$DIR/admin.key-id")" \
			--cluster-secret-file "$DIR/cluster.secret" "${redis_args[@]}"
		wait_port "${smet[i]}" "${PIDS[-1]}" "shadowd-$i"
		shadowd_pids+=("${PIDS[-1]}")
	done
	wait_ready "${smet[@]}"
	mkdir -p "$DIR/rules-files"
	for ((i = 0; i < RULESD; i++)); do
		start "rulesd-$i" "$BIN_DIR/strata-rulesd" --node-id "rulesd-$i" \
			--bind "$HOST" --metrics-port "${rmet_rules[i]}" \
			--file-dir "$DIR/rules-files" \
			--cluster-secret-file "$DIR/cluster.secret" "${redis_args[@]}"
		wait_port "${rmet_rules[i]}" "${PIDS[-1]}" "rulesd-$i"
		rulesd_pids+=("${PIDS[-1]}")
	done
	wait_ready "${rmet_rules[@]}"
	if ((LB)); then
		lb_config "${lb_ports[@]}"
		haproxy -c -q -f "$DIR/haproxy.cfg" >"$LOG_DIR/haproxy-check.log" 2>&1 ||
			die "$DIR/haproxy.cfg is not valid; see $LOG_DIR/haproxy-check.log"
		start haproxy haproxy -db -f "$DIR/haproxy.cfg"
		lb_pid=${PIDS[-1]}
		wait_port "${lb_ports[0]}" "$lb_pid" haproxy
		wait_port "${lb_ports[1]}" "$lb_pid" haproxy
		wait_lb_ready "${lb_ports[2]}"
	fi
	trap - EXIT

	cat >"$DIR/endpoints.env.tmp" <<-EOF
		# Strata local cluster, written by cluster.sh up
		HOST="$HOST"
		MQTT_PORTS="$(join "${mqtt[@]}")"
		MQTTS_PORTS="$(join "${mqtts[@]}")"
		WS_PORTS="$(join "${ws[@]}")"
		WSS_PORTS="$(join "${wss[@]}")"
		METRICS_PORTS="$(join "${bmet[@]}" "${rmet[@]}")"
		BROKER_METRICS_PORTS="$(join "${bmet[@]}")"
		ROUTER_METRICS_PORTS="$(join "${rmet[@]}")"
		ROUTER_PORTS="$(join "${rlink[@]}")"
		REDIS_PORT="$redis_port"
		PIDS="$(join "${PIDS[@]}")"
		CA_FILE="$DIR/certs/ca.crt"
		CLIENT_CERT="$DIR/certs/client.crt"
		CLIENT_KEY="$DIR/certs/client.key"
		LOG_DIR="$LOG_DIR"
		BROKER_PIDS="$(join "${broker_pids[@]}")"
		ROUTER_PIDS="$(join "${router_pids[@]}")"
		REDIS_PID="$redis_pid"
		LB_PORT="${lb_ports[0]:-}"
		LB_TLS_PORT="${lb_ports[1]:-}"
		LB_STATS_PORT="${lb_ports[2]:-}"
		LB_HTTPS_PORT="${lb_ports[3]:-}"
		LB_WS_PORT="${lb_ports[4]:-}"
		LB_WSS_PORT="${lb_ports[5]:-}"
		LB_PID="$lb_pid"
		PROXY_PORTS="$(join "${proxy[@]}")"
		PROXY_TLS_PORTS="$(join "${proxy_tls[@]}")"
		SHADOWD_PIDS="$(join "${shadowd_pids[@]}")"
		SHADOWD_METRICS_PORTS="$(join "${smet[@]}")"
		SHADOWD_HTTP_PORTS="$(join "${shttp[@]}")"
		DATA_URL="$( ((SHADOWD)) && echo "http://$HOST:${shttp[0]}")"
		SHADOWD_HTTPS_PORTS="$(join "${shttps[@]}")"
		HTTPS_PORTS="$(join "${shttps[@]}")"
		DATA_HTTPS_URL="$( ((SHADOWD)) && echo "https://$HOST:${shttps[0]}")"
		RULESD_PIDS="$(join "${rulesd_pids[@]}")"
		RULESD_METRICS_PORTS="$(join "${rmet_rules[@]}")"
		RULES_FILE_DIR="$DIR/rules-files"
		CLUSTER_SECRET_FILE="$DIR/cluster.secret"
		REDIS_SENTINELS="$sentinels"
		REDIS_MASTER_NAME="$( ((REDIS_HA)) && echo strata)"
		REDIS_PRIMARY_PID="$( ((REDIS_HA)) && echo "$redis_pid")"
		REDIS_REPLICA_PIDS="$(join "${replica_pids[@]}")"
		REDIS_SENTINEL_PIDS="$(join "${sentinel_pids[@]}")"
		REDIS_REPLICA_PORTS="$(join "${replica_ports[@]}")"
		REDIS_SENTINEL_PORTS="$(join "${sentinel_ports[@]}")"
		ADMIN_URL="http://$HOST:${admin[0]}"
		ADMIN_URLS="$(for p in "${admin[@]}"; do printf 'http://%s:%s ' "$HOST" "$p"; done | sed 's/ $//')"
		ADMIN_TOKEN="$(cat "$DIR/admin.token")"
		ADMIN_TOKEN_FILE="$DIR/admin.token"
		ADMIN_ACCESS_KEY_ID="$(cat "$DIR/admin.key-id")"
		CONSOLE_URL="http://$HOST:${admin[0]}/console/"
		REDIS_USER="$REDIS_USER"
		REDIS_PASSWORD_FILE="$DIR/redis.password"
		REDIS_SENTINEL_PASSWORD_FILE="$( ((REDIS_HA)) && echo "$DIR/redis-sentinel.password")"
	EOF
	mv "$DIR/endpoints.env.tmp" "$DIR/endpoints.env"
}

# register_dev_client URL: the development client certificate, ACTIVE,
# with the policy strata-dev (everything allowed) attached, through the
# admin API as a user would (idempotent: a second cluster on the same
# Redis finds them there).
register_dev_client() {
	local ctl=("$BIN_DIR/stratactl" --endpoint-url "$1" --token-file "$DIR/admin.token")
	local out id arn
	out=$("${ctl[@]}" register-certificate --set-as-active \
		--certificate-pem "file://$DIR/certs/client.crt" 2>&1) ||
		[[ $out == *ResourceAlreadyExists* ]] ||
		die "could not register the development client certificate: $out"
	id=$(openssl x509 -in "$DIR/certs/client.crt" -outform DER | sha256sum | cut -d' ' -f1)
	arn=$("${ctl[@]}" describe-certificate --certificate-id "$id" |
		sed -n 's/.*"certificateArn": "\(.*\)".*/\1/p')
	out=$("${ctl[@]}" create-policy --policy-name strata-dev --policy-document \
		'{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:*","Resource":"*"}]}' 2>&1) ||
		[[ $out == *ResourceAlreadyExists* ]] ||
		die "could not create the strata-dev policy: $out"
	"${ctl[@]}" attach-policy --policy-name strata-dev --target "$arn" >/dev/null ||
		die "could not attach strata-dev to the development client certificate"
}

# secret_file FILE BYTES: a new random secret (hex) only we can read.
secret_file() {
	(umask 077 && openssl rand -hex "$2" >"$1") || die "could not write $1"
}

# sha256_hex FILE: the SHA-256 of the secret in FILE (without its newline),
# as Redis's ACL takes a password it should not store ("#<hex>").
sha256_hex() {
	local secret
	secret=$(<"$1")
	printf '%s' "$secret" | sha256sum | cut -d' ' -f1
}

# redis_conf FILE: the configuration every Redis data node starts from
# (primary and replicas alike: a replica may be promoted, a primary
# demoted).  No one gets in without a password: the default user is off
# (it can be neither logged in as nor used without AUTH) but keeps its
# permissions, because Redis 7.0 replays its AOF at start-up as the
# default user and, were that user stripped, refuses the MULTI/EXEC blocks
# scripts' effects are logged as: they would be lost on a restart.  The
# daemons' user may
# touch only strata:* keys and channels and run no @dangerous command but
# ROLE (which Sentinel mode asks).  With --redis-ha: the user replicas
# connect as (masteruser) may only replicate, the sentinels' user only
# what monitoring and failover need.  Only the SHA-256 of a user's
# password is written, but masterauth is the password itself: mode 600.
redis_conf() {
	local file=$1
	mkdir -p "$(dirname "$file")"
	(
		umask 077
		cat >"$file" <<-EOF
			user default off ~* &* +@all
			user $REDIS_USER on #$(sha256_hex "$DIR/redis.password") ~strata:* &strata:* +@all -@dangerous +role
		EOF
		((REDIS_HA)) || exit 0
		cat >>"$file" <<-EOF
			user replica on #$(sha256_hex "$DIR/redis-internal.password") +psync +replconf +ping
			user sentinel on #$(sha256_hex "$DIR/redis-internal.password") allchannels +multi +exec +slaveof +replicaof +ping +subscribe +publish +config|rewrite +role +info +client|setname +client|kill +script|kill
			masteruser replica
			masterauth $(<"$DIR/redis-internal.password")
		EOF
	) || die "could not write $file"
}

# rcli PORT ARGS...: redis-cli on a data node, as the daemons' user (the
# password through the environment, not the command line).
rcli() {
	local port=$1
	shift
	REDISCLI_AUTH=$(<"$DIR/redis.password") redis-cli --no-auth-warning \
		--user "$REDIS_USER" -h "$HOST" -p "$port" "$@"
}

# scli PORT ARGS...: redis-cli on a sentinel, with its password.
scli() {
	local port=$1
	shift
	REDISCLI_AUTH=$(<"$DIR/redis-sentinel.password") redis-cli \
		--no-auth-warning -h "$HOST" -p "$port" "$@"
}

# redis_ha: the replicas and the sentinels of --redis-ha, once the
# primary listens; sets replica_pids, sentinel_pids and sentinels (reads
# cmd_up's port arrays).  Ready when every sentinel names the primary and
# both replicas are in sync.
redis_ha() {
	local i port conf ok
	for ((i = 0; i < ${#replica_ports[@]}; i++)); do
		port=${replica_ports[i]}
		redis_conf "$DIR/redis-replica-$i/redis.conf"
		start "redis-replica-$i" redis-server "$DIR/redis-replica-$i/redis.conf" \
			--bind "$HOST" --port "$port" \
			--save '' --appendonly yes --appendfsync everysec \
			--replicaof "$HOST" "$redis_port" --replica-announce-ip "$HOST" \
			--dir "$DIR/redis-replica-$i" --daemonize no
		wait_port "$port" "${PIDS[-1]}" "redis-replica-$i"
		replica_pids+=("${PIDS[-1]}")
	done
	for ((i = 0; i < ${#sentinel_ports[@]}; i++)); do
		port=${sentinel_ports[i]}
		mkdir -p "$DIR/sentinel-$i"
		conf=$DIR/sentinel-$i/sentinel.conf
		# requirepass: clients (the daemons) and the other sentinels
		# (sentinel-pass) must give the sentinels' password; auth-user
		# and auth-pass: how a sentinel logs in to the data nodes
		(
			umask 077
			cat >"$conf" <<-EOF
				bind $HOST
				port $port
				daemonize no
				dir $DIR/sentinel-$i
				requirepass $(<"$DIR/redis-sentinel.password")
				sentinel sentinel-pass $(<"$DIR/redis-sentinel.password")
				sentinel announce-ip $HOST
				sentinel monitor strata $HOST $redis_port 2
				sentinel auth-user strata sentinel
				sentinel auth-pass strata $(<"$DIR/redis-internal.password")
				sentinel down-after-milliseconds strata 1000
				sentinel failover-timeout strata 10000
				sentinel parallel-syncs strata 1
			EOF
		) || die "could not write $conf"
		start "sentinel-$i" redis-sentinel "$conf"
		wait_port "$port" "${PIDS[-1]}" "sentinel-$i"
		sentinel_pids+=("${PIDS[-1]}")
		sentinels+="${sentinels:+,}$HOST:$port"
	done
	for ((i = 0; i < 100; i++)); do
		ok=1
		# ROLE of a replica in sync: slave, host, port, "connected", offset
		for port in "${replica_ports[@]}"; do
			rcli "$port" ROLE 2>/dev/null | grep -qx connected || ok=0
		done
		for port in "${sentinel_ports[@]}"; do
			[[ $(scli "$port" SENTINEL replicas strata 2>/dev/null |
				grep -c '^slave$') -ge 2 ]] || ok=0
		done
		((ok)) && return 0
		sleep 0.1
	done
	die "the Redis replicas or sentinels were not ready within 10 s; see $LOG_DIR"
}

# lb_config LB_PORT LB_TLS_PORT LB_STATS_PORT LB_HTTPS_PORT LB_WS_PORT
# LB_WSS_PORT: DIR/haproxy.cfg from the template, one server line per
# broker in each MQTT backend (its PROXY ports), in the ws and wss
# backends (its WebSocket ports), and one per shadowd in the HTTPS
# data-plane backend (its HTTPS port); each health checked on its
# metrics port.  Reads cmd_up's port arrays.
lb_config() {
	local servers= servers_tls= servers_https= servers_ws= servers_wss= i
	for ((i = 0; i < BROKERS; i++)); do
		servers+="\tserver broker-$i $HOST:${proxy[i]} send-proxy-v2 check port ${bmet[i]}\n"
		servers_tls+="\tserver broker-$i $HOST:${proxy_tls[i]} send-proxy-v2 check port ${bmet[i]}\n"
		servers_ws+="\tserver broker-$i $HOST:${ws[i]} check port ${bmet[i]}\n"
		servers_wss+="\tserver broker-$i $HOST:${wss[i]} check port ${bmet[i]}\n"
	done
	for ((i = 0; i < SHADOWD; i++)); do
		servers_https+="\tserver shadowd-$i $HOST:${shttps[i]} check port ${smet[i]}\n"
	done
	awk -v bind="$HOST" -v lb="$1" -v lb_tls="$2" -v stats="$3" \
		-v lb_https="$4" -v lb_ws="$5" -v lb_wss="$6" -v servers="$servers" \
		-v servers_tls="$servers_tls" -v servers_https="$servers_https" \
		-v servers_ws="$servers_ws" -v servers_wss="$servers_wss" '
		/^@MQTT_SERVERS@$/ { printf "%s", servers; next }
		/^@MQTTS_SERVERS@$/ { printf "%s", servers_tls; next }
		/^@HTTPS_SERVERS@$/ { printf "%s", servers_https; next }
		/^@WS_SERVERS@$/ { printf "%s", servers_ws; next }
		/^@WSS_SERVERS@$/ { printf "%s", servers_wss; next }
		/^[^#]/ {
			gsub(/@BIND@/, bind); gsub(/@LB_PORT@/, lb)
			gsub(/@LB_TLS_PORT@/, lb_tls); gsub(/@LB_STATS_PORT@/, stats)
			gsub(/@LB_HTTPS_PORT@/, lb_https)
			gsub(/@LB_WS_PORT@/, lb_ws); gsub(/@LB_WSS_PORT@/, lb_wss)
		}
		{ print }' "$root/deploy/haproxy/strata.cfg" >"$DIR/haproxy.cfg"
}

# wait_ready PORT...: until every broker's /healthz says 200 (router link up),
# at most 10 s; a broker that stays unready is reported, not fatal.
wait_ready() {
	local port i
	for port in "$@"; do
		for ((i = 0; i < 200; i++)); do
			health "$port" && break
			sleep 0.05
		done
		health "$port" || echo "cluster.sh: broker with metrics port $port is not ready (no router link?)" >&2
	done
}

# wait_lb_ready STATS_PORT: until HAProxy's first health checks passed for
# every server (servers start UP but unchecked), at most 10 s; a server
# still unchecked is reported, not fatal.
wait_lb_ready() {
	local i
	for ((i = 0; i < 200; i++)); do
		lb_checked "$1" && return 0
		sleep 0.05
	done
	echo "cluster.sh: HAProxy has not checked every broker yet (stats on port $1)" >&2
}

# lb_checked STATS_PORT: every server row of the stats CSV is UP, L7OK:
# each broker in its four backends (mqtt, mqtts, ws, wss), each shadowd in
# the HTTPS one.
lb_checked() {
	local csv= line rows=0
	# (the group keeps 2>/dev/null from becoming the shell's own stderr)
	{ exec 3<>"/dev/tcp/$HOST/$1"; } 2>/dev/null || return 1
	printf 'GET /;csv HTTP/1.0\r\nHost: %s\r\n\r\n' "$HOST" >&3
	read -r -t 2 -d '' csv <&3 || true
	exec 3>&-
	while IFS=, read -r -a line; do
		[[ ${line[0]:-} == brokers_* || ${line[0]:-} == shadowd_* ]] || continue
		[[ ${line[1]:-} != BACKEND ]] || continue
		[[ ${line[17]:-} == UP && ${line[36]:-} == L7OK ]] || return 1
		rows=$((rows + 1))
	done <<<"${csv//$'\r'/}"
	((rows == 4 * BROKERS + SHADOWD))
}

health() {
	local line
	# (the group keeps 2>/dev/null from becoming the shell's own stderr)
	{ exec 3<>"/dev/tcp/$HOST/$1"; } 2>/dev/null || return 1
	printf 'GET /healthz HTTP/1.0\r\nHost: %s\r\n\r\n' "$HOST" >&3
	read -r -t 2 line <&3 || line=
	exec 3>&-
	[[ $line == *" 200 "* ]]
}

# stop_pids FILE: SIGTERM the PIDs listed in FILE that are still ours,
# SIGKILL what is left after 10 s.
stop_pids() {
	local file=$1 p i alive
	[[ -f $file ]] || return 0
	local pids=()
	for p in $(cat "$file"); do
		[[ -r /proc/$p/cmdline ]] || continue
		tr '\0' ' ' </proc/"$p"/cmdline | grep -qE 'strata-|redis-server|redis-sentinel|haproxy' || continue
		pids+=("$p")
	done
	# the balancer first, then brokers (they drain clients), then
	# routers, then redis
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill -TERM "${pids[i]}" 2>/dev/null || true
	done
	for ((i = 0; i < 100; i++)); do
		alive=0
		for p in "${pids[@]}"; do
			kill -0 "$p" 2>/dev/null && alive=1
		done
		((alive)) || break
		sleep 0.1
	done
	for p in "${pids[@]}"; do
		kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null || true
	done
	rm -f "$file"
}

cmd_down() {
	parse "$@"
	[[ -f $DIR/pids ]] || {
		echo "cluster.sh: nothing running from $DIR" >&2
		return 0
	}
	stop_pids "$DIR/pids"
	rm -f "$DIR/endpoints.env"
}

cmd_run() {
	cmd_up "$@"
	# shellcheck disable=SC1091
	. "$DIR/endpoints.env"
	local lb_line=
	[[ -z $LB_PORT ]] || printf -v lb_line '\n  balancer: %s %s %s %s %s %s' \
		"mqtt://$HOST:$LB_PORT" "mqtts://$HOST:$LB_TLS_PORT" \
		"https://$HOST:${LB_HTTPS_PORT:-}" "ws://$HOST:$LB_WS_PORT/mqtt" \
		"wss://$HOST:$LB_WSS_PORT/mqtt" "stats http://$HOST:$LB_STATS_PORT/"
	cat <<-EOF

		Strata is running (Ctrl-C stops it).
		  MQTT:     $(for p in $MQTT_PORTS; do printf 'mqtt://%s:%s ' "$HOST" "$p"; done)
		  MQTTS:    $(for p in $MQTTS_PORTS; do printf 'mqtts://%s:%s ' "$HOST" "$p"; done)
		  ws, wss:  $(for p in $WS_PORTS; do printf 'ws://%s:%s/mqtt ' "$HOST" "$p"; done)$(for p in $WSS_PORTS; do printf 'wss://%s:%s/mqtt ' "$HOST" "$p"; done)
		  metrics:  $(for p in $METRICS_PORTS; do printf 'http://%s:%s/metrics ' "$HOST" "$p"; done)
		  redis:    $HOST:$REDIS_PORT${REDIS_SENTINELS:+ (primary at start; sentinels $REDIS_SENTINELS, master $REDIS_MASTER_NAME)}${lb_line}
		  certs:    CA $CA_FILE, client $CLIENT_CERT / $CLIENT_KEY
		  admin:    $ADMIN_URL (stratactl: STRATA_ADMIN_URL, STRATA_ADMIN_TOKEN=\$(cat $ADMIN_TOKEN_FILE))
		  console:  $CONSOLE_URL (log in with the admin token: $ADMIN_TOKEN)
		  shadows:  \$aws/things/<thing>/shadow/... over MQTT${DATA_URL:+; HTTP $DATA_URL (stratactl: STRATA_DATA_URL)}${DATA_HTTPS_URL:+; HTTPS $DATA_HTTPS_URL (device certificates)}
		  logs:     $LOG_DIR
		  try:      mosquitto_sub -p ${MQTT_PORTS%% *} -t '#' -v
		            mosquitto_pub -p ${MQTT_PORTS%% *} -t hello/world -m hi
	EOF
	trap 'echo; echo "stopping..."; stop_pids "$DIR/pids"; rm -f "$DIR/endpoints.env"; exit 0' INT TERM
	# Stay in the foreground until interrupted or a daemon dies.
	while :; do
		for p in $PIDS; do
			if ! kill -0 "$p" 2>/dev/null; then
				echo "cluster.sh: process $p exited; stopping the cluster (logs in $LOG_DIR)" >&2
				stop_pids "$DIR/pids"
				rm -f "$DIR/endpoints.env"
				exit 1
			fi
		done
		sleep 1 &
		wait $! || true
	done
}

case ${1:-} in
up) shift; cmd_up "$@" ;;
down) shift; cmd_down "$@" ;;
run) shift; cmd_run "$@" ;;
*) usage ;;
esac
