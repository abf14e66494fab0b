# A thin front door over meson. The two commands of the README:
#   make run     install what is missing, build, run the default job
#   make test    install what is missing, build, run every test and the coverage floor
BUILD ?= build

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

# Unit and end-to-end tests, then line coverage of core/ and sim/ against its floor.
test: build
	meson test -C $(BUILD) --print-errorlogs
	bash coverage/run.sh
	@scripts/test-summary.py $(BUILD)/meson-logs/testlog.json

unit: build
	meson test -C $(BUILD) --print-errorlogs --suite unit

coverage: deps
	bash coverage/run.sh

bench: build
	meson test -C $(BUILD) --benchmark --verbose

# Every libFuzzer target for FUZZ_SECONDS (default 30) each; docs/fuzzing.md.
FUZZ_SECONDS ?= 30
fuzz:
	bash scripts/fuzz-ci.sh $(FUZZ_SECONDS)

clean:
	rm -rf $(BUILD)
