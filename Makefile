# The two commands of a fresh machine: `make demo` and `make test`.
# Both install what they need first (scripts/setup.sh: a .venv with moto and cargo-lambda).

SHELL := /bin/bash
export PATH := $(CURDIR)/.venv/bin:$(PATH)
export CARGO_TERM_COLOR ?= never
# Cargo's output with each run of 25 `Compiling` lines folded into one count (other lines as they are).
PROGRESS := awk '/^ *Compiling/ { n++; if (n % 25 == 0) { print "  ... " n " crates compiled"; fflush() } next } { print; fflush() }'
# The Lambda functions: every folder under functions/ (a new one needs no line here).
FUNCTIONS := $(notdir $(wildcard functions/*))
# The functions the demo runs under cargo-lambda (the others run in-process or not at all).
DEMO_FUNCTIONS := image-push service-sync nlb-sync

.PHONY: setup setup-tools setup-sam demo test test-fast lint lint-static bench package fuzz clean schema params

# Clippy as the compiler of the workspace's own crates in `make test`'s build, with `-D warnings`
# in CLIPPY_ARGS (where `cargo clippy` puts it): the one build both lints and makes the test
# binaries. `cargo clippy` instead checks every dependency once more in check mode, 221 of the
# 1,281 s CI took from a clean clone. Dependencies are compiled by rustc as in any build; every
# cargo command of `make test` (and cargo-lambda under it) sets the same two variables, since
# they are part of what cargo fingerprints. scripts/check_clippy_wrapper.sh first makes sure
# clippy still refuses a lint so passed.
CLIPPY_DRIVER := $(shell rustc --print sysroot)/bin/clippy-driver
CLIPPY_LINT_ARGS := -Dwarnings
LINTED_BUILD := RUSTC_WORKSPACE_WRAPPER=$(CLIPPY_DRIVER) CLIPPY_ARGS=$(CLIPPY_LINT_ARGS)

setup:
	@bash scripts/setup.sh

## .venv only (moto, cargo-lambda): what the demo runs, without the template scanners.
setup-tools:
	@bash scripts/setup.sh tools

## The SAM CLI, for `sam build` and `sam deploy` (no test needs it).
setup-sam:
	@bash scripts/setup.sh sam

## Runs image-push against the local AWS emulator and shows what it did (KEEP=1: leaves the
## emulator and image-push running and prints the commands to try against them).
demo: setup-tools
	@echo "demo: building the functions it runs ($(DEMO_FUNCTIONS)), the command line and the demo: about 7 minutes on a new two-core machine, seconds after that"
	@start=$$SECONDS; set -o pipefail; \
	  { cargo build --locked $(addprefix -p ,$(DEMO_FUNCTIONS)) -p ecs-deployer && cargo build --locked --bin demo; } 2>&1 | $(PROGRESS) && \
	  echo "demo: built in $$((SECONDS - start)) s"
	KEEP=$(KEEP) cargo run --locked --quiet --bin demo

## Every test: formatting, clippy, template lint, unit tests, emulator and Lambda-runtime
## integration tests; then the IAM check against the AWS calls those tests recorded.
test:
	rm -rf target/aws-calls
	bash scripts/check_clippy_wrapper.sh $(CLIPPY_DRIVER) $(CLIPPY_LINT_ARGS)
	@# The function binaries, the CLI and the tools first: the Lambda-runtime tests run the
	@# functions through cargo-lambda, which would otherwise build them itself while the other
	@# tests run. Built through clippy (see LINTED_BUILD): this is also `make lint`'s clippy.
	@# The set-up and the static checks (Python, one core mostly) run beside it, in the time
	@# the build leaves a core idle, and are shown once both end; either failing fails the run.
	@mkdir -p target; \
	  { $(MAKE) --no-print-directory lint-static > target/lint-static.log 2>&1; echo $$? > target/lint-static.rc; } & \
	  echo "$(LINTED_BUILD) cargo build --locked --workspace --bins  (set-up and lint-static beside it)"; \
	  $(LINTED_BUILD) cargo build --locked --workspace --bins; built=$$?; \
	  wait; cat target/lint-static.log; \
	  test "$$(cat target/lint-static.rc)" = 0 || { echo "make test: lint-static failed (above)"; exit 1; }; \
	  test $$built = 0
	@# Four test threads on two cores: the integration tests mostly wait for their own emulator
	@# (72 s with two threads, 52 s with four, no faster with six).
	$(LINTED_BUILD) cargo test --locked --workspace --tests -- --test-threads 4
	@# --workspace as above: the same features, so nothing is built again for this last step.
	$(LINTED_BUILD) cargo test --locked --workspace --tests -- --ignored iam_policy::

## The edit-test loop: the library's unit tests (planners, parsers, rules), no emulator, no setup.
test-fast:
	cargo test --locked -p deployer --lib

## Formatting, clippy, the import, dependency and schema checks, and the template scanners.
lint: lint-static
	cargo clippy --locked --workspace --all-targets -- -D warnings

## Everything `make lint` runs but clippy (`make test` runs clippy as its build's compiler).
lint-static: setup
	python3 scripts/check_imports.py
	python3 scripts/check_deps.py
	python3 scripts/check_schema.py
	cargo fmt --all -- --check
	cfn-lint template.yaml
	@# AWS's serverless rules and checkov: every finding fixed or suppressed in the template
	@# with its reason (Metadata cfn-lint ignore_checks, checkov skip comments).
	.venv-lint/bin/cfn-lint template.yaml --append-rules cfn_lint_serverless.rules
	.venv-lint/bin/checkov -f template.yaml --framework cloudformation --skip-download --compact --quiet

## Figures: AWS calls per scenario, fan-out wall times, release binary size.
bench: setup
	cargo build --locked --release $(addprefix -p ,$(FUNCTIONS))
	cargo run --locked --quiet --bin bench

## arm64 Lambda builds of the three functions, with their sizes and an architecture check.
package: setup
	bash scripts/package.sh

## The input fuzzers for longer (optimized build; FUZZ_CASES cases per parser and property).
fuzz: setup
	FUZZ_CASES=$${FUZZ_CASES:-1000000} cargo test --locked -p deployer --profile fuzz --test fuzz_inputs

## The configuration's JSON Schema, written again from the Rust types (a unit test fails until
## the committed one matches them).
schema:
	cargo run --locked --quiet -p ecs-deployer -- config schema > schema/config.schema.json

## The stack parameters a configuration needs: make params CONFIG=config.json
params:
	@test -n "$(CONFIG)" || { echo "usage: make params CONFIG=config.json"; exit 2; }
	@cargo run --locked --quiet -p ecs-deployer -- config params $(CONFIG)

clean:
	cargo clean
	rm -rf .venv .venv-sam .venv-lint
