#!/usr/bin/env bash
# The secrets of deploy/docker-compose.yml, into deploy/docker/secrets/:
# a development CA and the server certificate (SAN: localhost, 127.0.0.1
# and STRATA_CERT_SAN, e.g. "DNS:mqtt.example.com"), the cluster secret,
# the admin API's bootstrap token, Redis's ACL file and password, and
# Grafana's admin password, the bootstrap admin identity's access key id
# (admin.key-id); and deploy/.env with it as STRATA_ADMIN_KEY_ID, which
# docker-compose reads.  The same files make the Kubernetes Secret
# strata-secrets (deploy/k8s/kustomization.yaml).
# STRATA_SECRETS_DIR and STRATA_ENV_FILE write elsewhere.
# Leaves what exists alone.  Use your own CA and server certificate in
# production: put them in secrets/ as ca.crt, ca.key, server.crt,
# server.key before running this.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${STRATA_SECRETS_DIR:-$here/secrets}
# only the owner enters the directory; the files are readable by the
# containers' users (strata 10001, redis, grafana), which see them
# through bind mounts
mkdir -p "$out"
chmod 700 "$out"
"$here/../local/gen-certs.sh" "$out" >/dev/null
secret() {
	[[ -s $1 ]] || openssl rand -hex "$2" >"$1"
}
secret "$out/cluster.secret" 32
secret "$out/admin.token" 24
secret "$out/redis.password" 24
secret "$out/grafana.password" 12
[[ -s $out/admin.key-id ]] ||
	printf 'AKIA%s' "$(openssl rand -hex 8 | tr a-f A-F)" >"$out/admin.key-id"
hash=$(tr -d '\n' <"$out/redis.password" | sha256sum | cut -d' ' -f1)
cat >"$out/redis.acl" <<ACL
user default off
user strata on #$hash ~strata:* &strata:* +@all -@dangerous +role
user probe on >probe +ping
ACL
chmod 644 "$out"/*
env=${STRATA_ENV_FILE:-$here/../.env}
grep -qs '^STRATA_ADMIN_KEY_ID=' "$env" ||
	printf 'STRATA_ADMIN_KEY_ID=%s\n' "$(cat "$out/admin.key-id")" >>"$env"
echo "secrets in $out; admin token: $(cat "$out/admin.token")"
echo "$(grep '^STRATA_ADMIN_KEY_ID=' "$env") in $env"
