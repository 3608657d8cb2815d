#!/usr/bin/env bash
# Install what Strata needs to build, run and test, from Debian's packages.
# Used by `make run` and `make test`; safe to run again (only installs what
# is missing).  Needs root (or sudo) when something is missing.
set -euo pipefail

PACKAGES=(
	build-essential cmake pkg-config clang libclang-rt-14-dev
	libevent-dev libssl-dev openssl libhiredis-dev
	libprotobuf-c-dev protobuf-c-compiler libjansson-dev libcmocka-dev
	redis-server mosquitto mosquitto-clients haproxy
	python3 python3-paho-mqtt python3-pytest
	procps iproute2 ca-certificates
)

missing=()
for p in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	[[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
	exit 0
fi

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
