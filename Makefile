# SpecOps developer entry points.  The README's quick start uses `demo` and `test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
SPECOPS := $(VENV)/bin/specops

.PHONY: demo install test lint show compile check schema bench clean

demo: install  ## set up, then lint, show and compile the example system
	$(SPECOPS) lint specs/
	$(SPECOPS) show specs/
	$(SPECOPS) compile specs/ --out generated/

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

test: install  ## the whole test suite
	$(PY) -m pytest -q

lint: install
	$(SPECOPS) lint specs/

show: install
	$(SPECOPS) show specs/

compile: install  ## regenerate generated/ and dvc.yaml from the specs
	$(SPECOPS) compile specs/ --out generated/

check: install  ## what CI gates on: lint, generated/ up to date
	$(SPECOPS) lint specs/
	$(SPECOPS) compile specs/ --out generated/ --check

schema: install  ## regenerate the JSON Schema and the spec reference
	$(SPECOPS) schema --out docs/reference/specops.schema.json
	$(SPECOPS) reference --out docs/reference/spec-reference.md

bench: install  ## benchmarks; figures go to bench/results/
	$(PY) bench/lint/bench_lint.py
	$(PY) bench/compile/bench_compile.py
	$(PY) bench/cel/bench_cel.py
	$(PY) bench/data/bench_data.py
	$(PY) bench/features/bench_features.py

clean:
	rm -rf $(VENV) .pytest_cache bench/results/*.tmp
