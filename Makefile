# Conveniences; README.md gives the two commands that matter (run and test).
.PHONY: build release test proto bench-pull

build:
	swift build

release:
	swift build -c release --product berthd

# The whole test suite against a private containerd and registries (needs root).
test:
	scripts/test.sh

# Regenerates Sources/ContainerdAPI from proto/ (commit the result; the build never runs protoc).
proto:
	scripts/generate-proto.sh

bench-pull:
	bench/pull/run.sh
