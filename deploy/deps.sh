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
fi

# The helper's npm packages (MQTT.js, whose browser module the web
# console ships, and puppeteer-core, which drives chromium in the console's
# browser test), exactly as tests/js/package-lock.json pins them; again
# only when the lock file changed since the last `npm ci`.
# A failure (no registry) does not stop a build: the tests that use
# MQTT.js report it.
js=$(cd "$(dirname "${BASH_SOURCE[0]}")/../tests/js" && pwd)
stamp=$js/node_modules/.strata-lock
if ! cmp -s "$js/package-lock.json" "$stamp" 2>/dev/null; then
	echo "deps: npm ci in tests/js" >&2
	if (cd "$js" && timeout 600 npm ci >&2); then
		cp "$js/package-lock.json" "$stamp"
	else
		echo "deps: npm ci failed in tests/js; the MQTT.js tests" \
			"will fail until it succeeds" >&2
	fi
fi
