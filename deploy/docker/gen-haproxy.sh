#!/usr/bin/env bash
# Write deploy/docker/haproxy.cfg, the load balancer of
# deploy/docker-compose.yml, from the template deploy/haproxy/strata.cfg
# with the compose file's addresses and ports (the same filling
# deploy/local/cluster.sh --lb does).  Run it again after changing the
# brokers or shadowds of the compose file; a test checks it is current.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
brokers=(172.28.0.21 172.28.0.22)
shadowds=(172.28.0.31)
servers= servers_tls= servers_ws= servers_wss= servers_https=
for i in "${!brokers[@]}"; do
	ip=${brokers[i]}
	servers+="\tserver broker-$i $ip:5883 send-proxy-v2 check port 9883\n"
	servers_tls+="\tserver broker-$i $ip:5884 send-proxy-v2 check port 9883\n"
	servers_ws+="\tserver broker-$i $ip:8083 check port 9883\n"
	servers_wss+="\tserver broker-$i $ip:8443 check port 9883\n"
done
for i in "${!shadowds[@]}"; do
	servers_https+="\tserver shadowd-$i ${shadowds[i]}:8443 check port 9985\n"
done
{
	echo "# Made by deploy/docker/gen-haproxy.sh from deploy/haproxy/strata.cfg: edit those."
	awk -v servers="$servers" -v servers_tls="$servers_tls" \
		-v servers_https="$servers_https" -v servers_ws="$servers_ws" \
		-v servers_wss="$servers_wss" '
		/^@MQTT_SERVERS@$/ { printf "%s", servers; next }
		/^@MQTTS_SERVERS@$/ { printf "%s", servers_tls; next }
		/^@HTTPS_SERVERS@$/ { printf "%s", servers_https; next }
		/^@WS_SERVERS@$/ { printf "%s", servers_ws; next }
		/^@WSS_SERVERS@$/ { printf "%s", servers_wss; next }
		/^[^#]/ {
			gsub(/@BIND@/, "0.0.0.0"); gsub(/@LB_PORT@/, "1883")
			gsub(/@LB_TLS_PORT@/, "8883"); gsub(/@LB_STATS_PORT@/, "8404")
			gsub(/@LB_HTTPS_PORT@/, "9443")
			gsub(/@LB_WS_PORT@/, "8083"); gsub(/@LB_WSS_PORT@/, "8443")
		}
		{ print }' "$root/deploy/haproxy/strata.cfg"
} >"$root/deploy/docker/haproxy.cfg"
