#!/usr/bin/env bash
# Development certificates for a local Strata (or any MQTT broker):
#   gen-certs.sh DIR
# writes DIR/ca.crt (+ ca.key), DIR/server.crt/.key (CN localhost, SAN
# localhost and 127.0.0.1, plus STRATA_CERT_SAN when set, e.g.
# "DNS:mqtt.example.com,IP:10.0.0.5") and DIR/client.crt/.key (CN
# dev-client), EC P-256, valid 825 days.  Leaves existing certificates
# alone.  Not for production.
set -euo pipefail
d=${1:?usage: gen-certs.sh DIR}
[[ -f $d/ca.crt && -f $d/server.crt && -f $d/client.crt ]] && exit 0
mkdir -p "$d"
cd "$d"
{
	openssl ecparam -name prime256v1 -genkey -noout -out ca.key
	openssl req -x509 -new -key ca.key -sha256 -days 825 \
		-subj "/CN=Strata Development CA" -out ca.crt
	openssl ecparam -name prime256v1 -genkey -noout -out server.key
	openssl req -new -key server.key -subj "/CN=localhost" -out server.csr
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1%s\nextendedKeyUsage=serverAuth\n' \
		"${STRATA_CERT_SAN:+,$STRATA_CERT_SAN}" >server.ext
	openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key \
		-CAcreateserial -days 825 -sha256 -extfile server.ext -out server.crt
	openssl ecparam -name prime256v1 -genkey -noout -out client.key
	openssl req -new -key client.key -subj "/CN=dev-client" -out client.csr
	printf 'extendedKeyUsage=clientAuth\n' >client.ext
	openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key \
		-CAcreateserial -days 825 -sha256 -extfile client.ext -out client.crt
} >/dev/null 2>&1 || {
	echo "gen-certs.sh: certificate generation failed (is openssl installed?)" >&2
	exit 1
}
rm -f ./*.csr ./*.ext ca.srl
chmod 600 ./*.key
