# Every target sets up .venv first; the stamp is rebuilt whenever a requirements file changes.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: install test lint bench demo serve synth

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	# The `seqserve` CLI (pyproject.toml's console script); setuptools comes from PyPI in pip's build isolation.
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	$(PY) -m pytest -n 2 --dist loadfile

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
