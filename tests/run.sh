#!/usr/bin/env bash
# The whole test suite, as `make test` runs it (after `make build`):
#   1. unit tests and conformance vectors (ctest, release build)
#   2. integration tests with real clients against a local cluster
#   3. a strata-bench smoke run against a local cluster (zero loss)
#   4. 1 and 2 again with AddressSanitizer + UndefinedBehaviorSanitizer
#   5. a short libFuzzer run of every fuzz target
# The ASan+UBSan build runs in the background during 2 and 3, the fuzz
# build after it, during 3 and 4.
# Exits non-zero if any step fails; prints a summary line at the end.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-/usr/bin/python3}
JOBS=$(nproc 2>/dev/null || echo 2)
passed=0
failed=0
failures=()

step() {
	local name=$1
	shift
	local start=$SECONDS
	echo "=== $name"
	if "$@"; then
		passed=$((passed + 1))
		echo "=== $name: passed in $((SECONDS - start)) s"
	else
		failed=$((failed + 1))
		failures+=("$name")
		echo "=== FAILED: $name"
	fi
}

bench_smoke() {
	local dir rc=0 ports ws_ports
	[[ -x build/bin/strata-bench ]] || {
		echo "strata-bench was not built"
		return 1
	}
	dir=$(mktemp -d)
	deploy/local/cluster.sh up --dir "$dir" --brokers 2 --routers 1 \
		--base-port "$(free_base)" || return 1
	ports=$(. "$dir/endpoints.env" && echo "$MQTT_PORTS")
	ws_ports=$(. "$dir/endpoints.env" && echo "$WS_PORTS")
	timeout 60 build/bin/strata-bench pubsub --pattern pairs --clients 10 \
		--qos 1 --count 300 --ports "$ports" --expect-no-loss || rc=1
	timeout 60 build/bin/strata-bench pubsub --pattern fanout --clients 5 \
		--qos 0 --count 100 --ports "$ports" --expect-no-loss || rc=1
	# MQTT over WebSocket
	timeout 60 build/bin/strata-bench pubsub --pattern pairs --clients 10 \
		--qos 1 --count 300 --ports "$ws_ports" --ws --expect-no-loss || rc=1
	# device shadows: every update answered on update/accepted
	timeout 60 build/bin/strata-bench shadow --things 100 --count 20 \
		--ports "$ports" --expect-no-loss || rc=1
	deploy/local/cluster.sh down --dir "$dir"
	rm -rf "$dir"
	# fleet indexing: 1,000 things indexed and queried (a cluster of its
	# own; the full run is bench/fleet-index.sh, 100,000 things)
	timeout 120 bench/fleet-index.sh --things 1000 --runs 3 >/dev/null || rc=1
	return $rc
}

# A base port whose derived cluster ports are all free.
free_base() {
	"$PYTHON" - <<-'PY'
		import random, socket
		def free(p):
		    s = socket.socket()
		    try:
		        s.bind(("127.0.0.1", p)); return True
		    except OSError:
		        return False
		    finally:
		        s.close()
		while True:
		    # below 32768, where the ephemeral port range starts
		    b = random.randrange(10000, 32768 - 8101)
		    if all(free(b + o) for o in (0, 1, 3000, 3001, 3500, 3501, 4500, 6000, 7000, 7001, 8000, 8001, 8100)):
		        print(b); break
	PY
}

# Six pytest workers (pytest-xdist), a test file on each at a time:
# the tests mostly wait on sockets and timers (even under ASan the suite
# takes only a fifth longer), so on two cores six workers still cut the
# wall time (four: 203 s, six: 173 s on two cores).  TEST_WORKERS=0 runs
# them in this process.
integration() {
	local bin=$1
	shift
	STRATA_BIN_DIR=$bin "$PYTHON" -m pytest -q -p no:cacheprovider \
		-n "${TEST_WORKERS:-6}" --dist loadfile "$@" tests/integration
}

fuzz_build() {
	cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTRATA_FUZZ=ON >/dev/null &&
		cmake --build build-fuzz -j"$JOBS" --target fuzz_all >/dev/null
}

asan_build() {
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSTRATA_SANITIZE=ON >/dev/null &&
		cmake --build build-asan -j"$JOBS" >/dev/null
}

# The ASan+UBSan build, then the fuzz build, at low priority in the
# background while the release build's integration tests run: those
# mostly wait on sockets and timers and leave the CPUs idle.  Each build
# writes SIDE/<name>.log and, when it ends, SIDE/<name>.rc.
SIDE=$(mktemp -d)
side_builds() {
	renice -n 10 "$BASHPID" >/dev/null
	asan_build >"$SIDE/asan.log" 2>&1
	echo $? >"$SIDE/asan.rc"
	fuzz_build >"$SIDE/fuzz.log" 2>&1
	echo $? >"$SIDE/fuzz.rc"
}

# side_result NAME: wait until the background build NAME has ended; its
# status (its log printed when it failed).
side_result() {
	while [[ ! -f $SIDE/$1.rc ]]; do
		sleep 1
	done
	(($(cat "$SIDE/$1.rc") == 0)) && return 0
	tail -n 60 "$SIDE/$1.log"
	return 1
}

fuzz_short() {
	side_result fuzz &&
		FUZZ_JOBS=$JOBS bash tests/fuzz/run.sh build-fuzz/fuzz \
		"${FUZZ_SHORT_SECONDS:-2}"
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# ctest runs as many unit tests at a time as there are CPUs: those that
# start a redis-server or a router take free ports from the kernel
step "unit tests" ctest --test-dir build -j"$JOBS" --output-on-failure
side_builds &
side_pid=$!
step "integration tests" integration "$PWD/build/bin"
step "bench smoke run" bench_smoke
step "ASan+UBSan build" side_result asan
# The fuzz build goes on in the background (low priority) while the
# sanitizer tests run, which mostly wait on sockets and timers
step "unit tests (ASan+UBSan)" ctest --test-dir build-asan -j"$JOBS" \
	--output-on-failure
# test_deploy checks the deployment files (compose, Kubernetes, the
# Dockerfile) against the release binaries: nothing for the sanitizers
step "integration tests (ASan+UBSan)" integration "$PWD/build-asan/bin" \
	--ignore=tests/integration/test_deploy.py
step "fuzz (short)" fuzz_short
wait "$side_pid"
rm -rf "$SIDE"

echo
for f in "${failures[@]}"; do
	echo "failed: $f"
done
echo "suite: $passed passed, $failed failed"
((failed == 0))
