# cvnb — every target sets up .venv from pyproject.toml when it is missing or stale.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.cvnb-installed
DATA   ?=
OUT    ?= runs/demo
DEPTH  ?= demo
PYTEST_ARGS ?=

.PHONY: venv demo curriculum test lint lab bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[train,lab,dev]'
	@touch $(STAMP)

venv: $(STAMP)

## make demo [DATA=/path/to/images] [DEPTH=full]: the demo path (quick start, clean, transfer
## learning) at the demo depth, about a minute a notebook; writes runs/demo/
demo: venv
	$(PY) -m cvnb.demo --out "$(OUT)" --depth $(DEPTH) $(if $(DATA),--data "$(DATA)",)

## make curriculum [DATA=/path/to/images]: every notebook at full depth; writes runs/curriculum/
curriculum: venv
	$(PY) -m cvnb.demo --all --depth full --out runs/curriculum $(if $(DATA),--data "$(DATA)",)

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
