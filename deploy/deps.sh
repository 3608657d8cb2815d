#!/usr/bin/env bash
# Install what Strata needs to build, run and test, from Debian's packages
# (and the MQTT.js test helper's npm packages, tests/js).  Used by `make
# run` and `make test`; safe to run again (only installs what is missing).
# Needs root (or sudo) when a package is missing.
set -euo pipefail

PACKAGES=(
	build-essential cmake pkg-config clang libclang-rt-14-dev
	libevent-dev libssl-dev openssl libhiredis-dev
	libprotobuf-c-dev protobuf-c-compiler libjansson-dev libcmocka-dev libpcre2-dev
	librdkafka-dev libwslay-dev
	redis-server redis-sentinel mosquitto mosquitto-clients haproxy
	python3 python3-paho-mqtt python3-pytest python3-pytest-xdist
	python3-yaml docker-compose prometheus
	procps iproute2 ca-certificates
	chromium
)

missing=()
for p in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ "$status" == "install ok installed" ]] || missing+=("$p")
done
# Node.js and npm run the MQTT.js test helper (tests/js).  Checked by
# command rather than by package: a Node.js installed otherwise (with its
# own npm) will do, and Debian's npm package would conflict with it.
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
# kubectl renders deploy/k8s (kubectl kustomize) for its schema check;
# Debian's kubernetes-client when no kubectl is installed.
command -v kubectl >/dev/null || missing+=(kubernetes-client)

if ((${#missing[@]} > 0)); then
	echo "deps: installing ${missing[*]}" >&2
	SUDO=
	if [[ $(id -u) -ne 0 ]]; then
		command -v sudo >/dev/null || {
			echo "deps: need root to install: ${missing[*]}" >&2
			exit 1
		}
		SUDO=sudo
	fi
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
	# Debian starts the Prometheus it installs as a service (port 9090);
	# the tests run their own, so one installed here is not left running
	if [[ " ${missing[*]} " == *" prometheus "* ]] &&
		command -v systemctl >/dev/null &&
		systemctl is-active --quiet prometheus 2>/dev/null; then
		$SUDO systemctl disable --now prometheus >&2 || true
	fi
fi

# The test helpers' npm packages (MQTT.js in tests/js, whose browser
# module the web console also ships, with puppeteer-core, which drives
# chromium in the console's browser test; the Kubernetes schemas in
# tests/k8s), exactly as each package-lock.json pins them; again only
# when the lock file changed since the last `npm ci`.  A failure (no
# registry) does not stop a build: the tests that use them report it.
for js in tests/js tests/k8s; do
	js=$(cd "$(dirname "${BASH_SOURCE[0]}")/../$js" && pwd)
	stamp=$js/node_modules/.strata-lock
	cmp -s "$js/package-lock.json" "$stamp" 2>/dev/null && continue
	echo "deps: npm ci in $js" >&2
	if (cd "$js" && timeout 600 npm ci >&2); then
		cp "$js/package-lock.json" "$stamp"
	else
		echo "deps: npm ci failed in $js; the tests that use it" \
			"will fail until it succeeds" >&2
	fi
done
