# Every target sets up .venv first; the stamp is rebuilt whenever a requirements file changes.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
# SageMaker takes Docker media types only; BuildKit switches to OCI whenever it attaches attestations.
export BUILDX_NO_DEFAULT_ATTESTATIONS := 1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: install test lint bench demo serve synth deploy integ integ-snapshots chaos

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt requirements-lambda-layer.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	# The Lambda layer's wheels, for the functions' CPython 3.12 on arm64 (stacks/powertools_layer.py).
	$(PY) -m pip download --quiet --only-binary=:all: --no-deps --implementation cp --python-version 3.12 \
		--abi cp312 --abi abi3 --abi none --platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64 \
		--platform any -d $(VENV)/lambda-layer-wheels -r requirements-lambda-layer.txt
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint integ
	$(PY) -m pytest -n 2 --dist loadfile

# The lifecycle state machine (tests/property) with many long random runs; prints a JSON summary line
# (CHAOS {...}: steps per rule, examples, findings) and Hypothesis's failing steps if it finds one.
chaos: $(STAMP)
	SEQSERVE_HYPOTHESIS_PROFILE=chaos $(PY) -m pytest -p no:xdist -q -s tests/property

bench: $(STAMP)
	$(PY) -m bench

# The local stack (local/): trains circrna on generated data, then runs the demo or serves until Ctrl-C.
demo: $(STAMP)
	$(PY) -m local demo

serve: $(STAMP)
	$(PY) -m local serve

# The CDK app (app.py, stacks/): synth with cdk-nag AwsSolutions (any unsuppressed finding is an error
# and fails the synth), then cfn-lint on every template. Offline: no lookups, notices or telemetry.
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

synth: $(STAMP) node_modules/.package-lock.json
	rm -rf cdk.out
	npx --no-install cdk synth --quiet --no-notices --no-version-reporting --no-lookups
	$(VENV)/bin/cfn-lint cdk.out/*.template.json

# Builds the serving image with Docker (Docker media types, no attestations) and deploys both stacks.
deploy: $(STAMP) node_modules/.package-lock.json
	npx --no-install cdk deploy --all --no-notices --no-version-reporting
# CDK integ tests (tests/integ, README "CDK integ tests"): the runner synthesizes each test app and checks
# it against the committed snapshot, offline: no deploy, no account, no network.
INTEG_RUNNER := npx --no-install integ-runner --directory tests/integ --language python --app "$(CURDIR)/$(PY) {filePath}"

integ: $(STAMP) node_modules/.package-lock.json
	$(INTEG_RUNNER)

# After a change to the stacks: rewrite the snapshots without deploying (an account run deploys: README).
integ-snapshots: $(STAMP) node_modules/.package-lock.json
	$(INTEG_RUNNER) --update-on-failed --dry-run --parallel-regions us-east-1
