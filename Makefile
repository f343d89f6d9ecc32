# Thin wrapper over CMake (STYLE.md). The two commands a new machine needs:
#   make run    build, then start the server on its embedded default
#   make test   build, then run every test
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= 2
CMAKE_ARGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo

.PHONY: all deps configure build run test generate check-generated asan docs bench clean

all: build

deps:
	@sh tools/deps.sh

configure: deps
	@test -f $(BUILD)/CMakeCache.txt || cmake -S . -B $(BUILD) $(CMAKE_ARGS)

build: configure
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

run: build
	sh tools/run.sh $(BUILD)

generate: configure
	cmake --build $(BUILD) -j $(JOBS) --target generate

# CI: regenerating must not change a byte of what is committed.
check-generated: generate
	@git add -N generated conformance/vectors >/dev/null 2>&1 || true
	@git diff --exit-code --stat -- generated conformance/vectors || \
	  { echo "generated/ is stale: run 'make generate' and commit" >&2; exit 1; }

asan: deps
	@test -f $(ASAN_BUILD)/CMakeCache.txt || \
	  cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DVT_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS)

# A short run of every benchmark, figures with their baselines and ratios
# (bench/README.md).
bench: build
	sh tools/bench.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
