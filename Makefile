# Every target sets up .venv first; the stamp is rebuilt whenever a requirements file changes.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: install test lint bench demo serve synth chaos

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
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
