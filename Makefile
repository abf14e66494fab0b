# A thin front door over meson. The two commands of the README:
#   make run     install what is missing, build, run the default job
#   make test    install what is missing, build, run every test and the coverage floor
BUILD ?= build
# Seconds each libFuzzer target runs in `make test` and `make fuzz` (docs/fuzzing.md).
FUZZ_SECONDS ?= 30

.PHONY: all deps build run test unit coverage bench fuzz clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

run: build
	./$(BUILD)/twin run

# Unit and end-to-end tests, line coverage of core/ and sim/ against its
# floor, then every libFuzzer target for FUZZ_SECONDS (a skip, exit 77, only
# where clang's libFuzzer is missing).
test: build
	meson test -C $(BUILD) --print-errorlogs
	bash coverage/run.sh
	bash scripts/fuzz-ci.sh $(FUZZ_SECONDS) || [ $$? -eq 77 ]
	@scripts/test-summary.py $(BUILD)/meson-logs/testlog.json

unit: build
	meson test -C $(BUILD) --print-errorlogs --suite unit

coverage: deps
	bash coverage/run.sh

bench: build
	meson test -C $(BUILD) --benchmark --verbose

fuzz:
	bash scripts/fuzz-ci.sh $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD)
