# Strata - top-level commands.  `make run` and `make test` do all the set-up
# on a fresh Debian 12 machine (as root): install packages, build, run.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
PYTHON ?= /usr/bin/python3
FUZZ_SECONDS ?= 60

.PHONY: all deps build run test unit integration asan fuzz sizing clean

all: build

deps:
	@bash deploy/deps.sh

build: deps
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build build -j$(JOBS)

# A whole cluster on loopback in the foreground; Ctrl-C stops it.
# LB=1 adds HAProxy in front of the brokers (MQTT 5883, MQTTS 5884);
# REDIS_HA=1 runs Redis with two replicas and three sentinels.
run: build
	deploy/local/cluster.sh run --dir build/run --brokers $${BROKERS:-1} --routers $${ROUTERS:-1} $${LB:+--lb} $${REDIS_HA:+--redis-ha}

# Every test: unit, conformance vectors, integration with real clients,
# bench smoke run, a short fuzz run, then the same suite under ASan+UBSan.
test: build
	bash tests/run.sh

unit: build
	ctest --test-dir build --output-on-failure

integration: build
	STRATA_BIN_DIR=$(CURDIR)/build/bin $(PYTHON) -m pytest -q -n $${TEST_WORKERS:-4} --dist loadfile tests/integration

asan: deps
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DSTRATA_SANITIZE=ON >/dev/null
	cmake --build build-asan -j$(JOBS)

fuzz: deps
	cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTRATA_FUZZ=ON >/dev/null
	cmake --build build-fuzz -j$(JOBS) --target fuzz_all
	bash tests/fuzz/run.sh build-fuzz/fuzz $(FUZZ_SECONDS)

# Memory per subscription, retained message and shadow on fresh local
# clusters (bench/sizing.sh; not part of `make test`): about a minute a
# run.  SIZING_ARGS="--runs 2 --persistent" and so on.
sizing: build
	bench/sizing.sh $${SIZING_ARGS:-}

clean:
	rm -rf build build-asan build-fuzz
