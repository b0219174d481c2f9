# Thin wrapper around CMake. `make run` builds and starts sigverd with conf/sigver.conf;
# `make test` builds and runs every test (unit, integration, interop, browser end-to-end).
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps configure build run test sanitize-test fuzz unit-test e2e-test bench clean format

all: build

deps:
	@tools/install-deps.sh

$(BUILD_DIR)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD_DIR) $(CMAKE_FLAGS)

configure: $(BUILD_DIR)/CMakeCache.txt

build: deps configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	$(BUILD_DIR)/sigverd -c conf/sigver.conf

# Every suite runs under ctest: unit, integration, interop, init script, browser (e2e),
# format; then everything but the browser and format tests again under ASan + UBSan; then
# every fuzz target for FUZZ_SECONDS.
test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)
	$(MAKE) sanitize-test
	$(MAKE) fuzz

SANITIZE_DIR ?= build-asan
sanitize-test: deps
	cmake -S . -B $(SANITIZE_DIR) -DSIGVER_SANITIZE=ON $(CMAKE_FLAGS)
	cmake --build $(SANITIZE_DIR) -j $(JOBS)
	cd $(SANITIZE_DIR) && ctest --output-on-failure -j $(JOBS) -E 'e2e|clang_format'

# libFuzzer targets (tests/fuzz) built with clang, ASan and UBSan, each run FUZZ_SECONDS
# from the seeds in tests/fuzz/corpus/, two at a time: about 3 x FUZZ_SECONDS after the build.
FUZZ_DIR ?= build-fuzz
FUZZ_SECONDS ?= 60
fuzz:
	@tools/install-deps.sh --fuzz
	CC=clang CXX=clang++ cmake -S . -B $(FUZZ_DIR) -DSIGVER_FUZZ=ON $(CMAKE_FLAGS)
	cmake --build $(FUZZ_DIR) -j $(JOBS) --target fuzz_targets
	tools/run-fuzzers.sh $(FUZZ_DIR) $(FUZZ_SECONDS)

unit-test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -L unit

e2e-test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -L e2e

# Side-by-side figures for sigverd (1 and 2 workers) and the reference sigver@18.0.0 on Node:
# CPU per relayed round trip, memory per idle peer, malformed frames. Not part of `make test`.
bench: build
	tools/bench/run.sh $(BUILD_DIR)

# 10 minutes (SOAK_SECONDS) of churn against the real server with 4 workers, reloads and
# worker-count changes; fails if memory or descriptors grow, a process dies or a message is
# lost. Writes the "## Soak" section of bench/RESULTS.md. Not part of `make test`.
.PHONY: soak
soak: build
	tools/soak/run.sh $(BUILD_DIR)

# Installs like a server program under PREFIX (DESTDIR stages it): sbin/sigverd, bin/sigver,
# manual pages, /etc/sigver.conf (an existing one is kept; the defaults always go beside it
# as sigver.conf.dist), the init script, the systemd unit and /etc/logrotate.d/sigverd.
PREFIX ?= /usr/local
.PHONY: install deb deb-test
install: build
	DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" tools/install.sh $(BUILD_DIR)

# The Debian package (plain dpkg-deb) in $(BUILD_DIR); lintian errors fail it.
deb: build
	@tools/install-deps.sh --deb
	deb=$$(tools/make-deb.sh $(BUILD_DIR)) && echo "$$deb" && lintian --fail-on error "$$deb"

# Installs, reloads, upgrades and purges the package in a throwaway debootstrapped root
# (cached in /var/cache/sigver-deb-test): 2.5 to 4 minutes the first time, 15 s after.
deb-test: build
	@tools/install-deps.sh --deb
	tools/deb-test.sh $(BUILD_DIR)

clean:
	rm -rf $(BUILD_DIR) $(SANITIZE_DIR) $(FUZZ_DIR)

format:
	clang-format -i $$(git ls-files 'src/*.cc' 'src/*.h' 'tests/*.cc' 'tests/*.h' 'tools/*.cc' 'tools/*.h')
