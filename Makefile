# SpecOps developer entry points.  The README's quick start uses `demo` and `test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
SPECOPS := $(VENV)/bin/specops

.PHONY: demo install test lint show compile check schema bench clean run checkov

demo: install  ## set up, lint the example system, then run its whole pipeline on the sample data
	$(SPECOPS) lint specs/
	$(SPECOPS) run specs/

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

run: install  ## compile, then run the generated DVC pipeline
	$(SPECOPS) run specs/

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
	$(PY) bench/train/bench_train.py
	$(PY) bench/stream/bench_stream.py
	$(PY) bench/data/bench_data.py
	$(PY) bench/serve/bench_serve.py
	$(PY) bench/features/bench_features.py
	$(PY) bench/review/bench_review.py
	$(PY) bench/canary/bench_canary.py
	$(PY) bench/breaker/bench_breaker.py
	$(PY) bench/monitor/bench_monitor.py
	$(PY) bench/predlog/bench_predlog.py
	$(PY) bench/control/bench_control.py

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache bench/results/*.tmp

# checkov lives in its own virtual environment: it pins an old networkx that
# the compiler's must not get.  Any failed check fails the target; skips carry
# their reasons (inline in terraform/, in .ci/checkov-generated.yaml for the
# compiler's output).  --skip-download: no network for guidelines.
CHECKOV_VENV ?= .venv-checkov
CHECKOV_VERSION ?= 3.3.30
CHECKOV := $(CHECKOV_VENV)/bin/checkov --skip-download --compact --quiet

$(CHECKOV_VENV)/.installed:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet 'checkov==$(CHECKOV_VERSION)'
	touch $@

checkov: $(CHECKOV_VENV)/.installed  ## checkov over terraform/, generated/, the CI workflows and the Dockerfile
	$(CHECKOV) -d terraform --framework terraform
	$(CHECKOV) -d generated --config-file .ci/checkov-generated.yaml
	# checkov finds workflows only under <root>/.github/workflows of the scanned folder.
	$(CHECKOV) -d . --framework github_actions --skip-path $(VENV) --skip-path $(CHECKOV_VENV)
	if [ -f Dockerfile ]; then $(CHECKOV) -f Dockerfile --framework dockerfile; fi

# Failure drills (bench/drills): `make bench` runs them too.
.PHONY: bench-drills
bench: bench-drills
bench-drills: install  ## failure drills: bench/results/drills.json and drills.md
	$(PY) bench/drills/run_drills.py
	$(PY) bench/drills/postmortems.py
