# cvnb — every target sets up .venv from pyproject.toml when it is missing or stale.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.cvnb-installed
DATA   ?=
OUT    ?= runs/demo
PYTEST_ARGS ?=

.PHONY: venv demo test lint lab bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[train,lab,dev]'
	@touch $(STAMP)

venv: $(STAMP)

## make demo [DATA=/path/to/images]: run the notebook curriculum, write runs/demo/
demo: venv
	$(PY) -m cvnb.demo --out "$(OUT)" $(if $(DATA),--data "$(DATA)",)

## make test: lint, unit tests, widget tests, notebooks (nbval, fast mode), browser tests
test: venv
	bash .ci/ensure_chromium.sh
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	CVNB_FAST=1 $(PY) -m pytest $(PYTEST_ARGS) tests
	CVNB_FAST=1 $(PY) -m pytest --nbval-lax -p no:cacheprovider notebooks

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

## make lab: JupyterLab on notebooks/
lab: venv
	$(VENV)/bin/jupyter lab notebooks/

## make bench: every bench/*.py with its defaults, one JSON object each (~15 min on 2 cores)
bench: venv
	@for f in bench/*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf runs dist build .pytest_cache .ruff_cache
