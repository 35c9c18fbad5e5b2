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

# The demo: synthesize the benchmark, train a tiny FT-UNetFormer on CPU, evaluate it.
demo: $(STAMP)
	rm -rf $(DEMO)/baseline $(DEMO)/eval
	$(LANDSEG) synth $(DEMO)/data --tiles 160 --size 256 --seed 0 --overwrite
	$(LANDSEG) train -c config/demo/baseline.py
	$(LANDSEG) evaluate --checkpoint $(DEMO)/baseline/checkpoints/best.ckpt --data $(DEMO)/data --split Val \
		--out $(DEMO)/eval --precision bf16 --batch-size 8
	@$(PY) -c "import json; s=json.load(open('$(DEMO)/eval/metrics.json'))['scores']; \
		print(f\"\nDEMO RESULT: validation {s['labels']['mIoU']} = {s['mIoU']:.3f}  (outputs in $(DEMO)/)\")"

bench: $(STAMP)
	$(PY) benchmarks/bench_train.py

clean-demo:
	rm -rf $(DEMO)
