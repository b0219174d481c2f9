# Thin wrapper around CMake. `make run` builds and starts sigverd with conf/sigver.conf;
# `make test` builds and runs every test (unit, integration, interop, browser end-to-end).
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps configure build run test unit-test e2e-test bench clean format

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

# ctest runs the unit, integration and interop suites; the browser test runs after it.
test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 300
	tests/e2e/run.sh $(BUILD_DIR)/sigverd

unit-test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) -L unit

e2e-test: build
	tests/e2e/run.sh $(BUILD_DIR)/sigverd

clean:
	rm -rf $(BUILD_DIR)

format:
	clang-format -i $$(git ls-files 'src/*.cc' 'src/*.h' 'tests/*.cc' 'tests/*.h')
