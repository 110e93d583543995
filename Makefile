# `make run`: the simulated rig with its web UI.  `make test`: lint, type check (mypy) + the whole test suite.
# Both build .venv on first use and are quick once it exists.
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
HOST  ?= 127.0.0.1
PORT  ?= 8080

.PHONY: run test fuzz lint format bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV) || { echo "python3 -m venv failed: sudo apt-get install python3-venv"; exit 1; }
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/rig serve --sim --host $(HOST) --port $(PORT)

# Python caches compiled modules (and pytest its assertion-rewritten test modules) for the test run
# even where PYTHONDONTWRITEBYTECODE is set: every `rig` child process of the tests and every
# pytest-xdist worker would otherwise compile the same files again (~0.5 s of CPU per process).
test fuzz: export PYTHONDONTWRITEBYTECODE :=

# mypy (strict on rig/, [tool.mypy] in pyproject.toml; one core for ~12 s on a fresh clone) runs
# beside pytest, whose workers spend much of their time waiting; either failing fails `make test`.
# Its cache folder is made first: tests/test_readme.py checks that nothing appears in the checkout.
# Debian packages the tests use (never skipped without them): said before anything runs.
TEST_COMMANDS := chromium systemd-analyze exiv2

test: $(STAMP)
	@missing=""; for c in $(TEST_COMMANDS); do command -v $$c >/dev/null 2>&1 || missing="$$missing $$c"; done; \
	test -z "$$missing" || { echo "make test needs$$missing: sudo apt-get install chromium systemd exiv2"; exit 1; }
	$(VENV)/bin/ruff check .
	@mkdir -p .mypy_cache
	@echo "$(VENV)/bin/mypy & $(PY) -m pytest -q -n auto"
	@$(VENV)/bin/mypy >$(VENV)/mypy.log 2>&1 & mypy=$$!; \
	$(PY) -m pytest -q -n auto; tests=$$?; \
	wait $$mypy; types=$$?; cat $(VENV)/mypy.log; \
	test $$types -eq 0 && test $$tests -eq 0

fuzz: $(STAMP)  # schemathesis over GET /api/openapi.json, 200 cases per operation (~45 s; CI runs it after `make test`)
	$(PY) -m pytest -q -n auto -m openapi_fuzz tests/test_openapi_fuzz.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/bandit -q -c pyproject.toml -r rig -ll
	$(VENV)/bin/pip-audit --skip-editable --progress-spinner off

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(STAMP)
	$(PY) bench/merge_bench.py

clean:
	rm -rf $(VENV) build *.egg-info
