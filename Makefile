# landseg: two commands do all set-up on a fresh machine.
#   make demo   creates .venv, installs, runs the pipeline on the embedded synthetic benchmark
#   make test   creates .venv if needed, runs the test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
LANDSEG := $(VENV)/bin/landseg
STAMP := $(VENV)/.installed-stamp
DEMO := runs/demo

.PHONY: venv browser test test-fast demo bench lint clean-demo

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# Chromium (a Debian package, not a pip download) drives the review page's browser test.
browser:
	command -v chromium >/dev/null || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)

test: $(STAMP) browser
	$(PY) -m pytest

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

# The demo: the seed workflow (config/biodiversity/pipeline.yaml) under the demo profile, on the
# embedded synthetic benchmark (runs/demo/), then the progression report. A second `make demo`
# skips every unchanged stage.
PIPELINE := config/biodiversity/pipeline.yaml
DEMO_PROFILE := config/demo/profile.yaml

demo: $(STAMP)
	$(LANDSEG) pipeline run $(PIPELINE) --profile $(DEMO_PROFILE) --no-progress
	@set -o pipefail; $(LANDSEG) report $(DEMO) --results | sed 's/^RESULT:/DEMO RESULT:/'
	@echo "Report: $(DEMO)/report/report.html (and report.md)"

bench: $(STAMP)
	$(PY) benchmarks/bench_train.py

clean-demo:
	rm -rf $(DEMO)
