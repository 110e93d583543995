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

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy  # strict on rig/ ([tool.mypy] in pyproject.toml)
	$(PY) -m pytest -q -n auto  # pytest-xdist: a worker per core, plus one (tests/conftest.py)

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
