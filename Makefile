# Two commands matter: `make run` and `make test`. Everything else is what they need.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
MODELS ?= models
DATA   ?= data
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: run test bench lint typecheck install models clean-models

## run: install, train the default models from data/ if missing, build the index, serve on :8080
run: models
	$(BIN)/frontdesk serve

## test: the whole suite (PostgreSQL, Redis and Chromium tests skip locally when absent)
test: install
	$(BIN)/python -m pytest -q

## bench: every benchmark; each prints one JSON line
bench: install models
	@set -e; for script in bench/*.py; do echo "# $$script" >&2; $(BIN)/python $$script; done

## lint: ruff, and the import contracts that keep the layers (pyproject.toml [tool.importlinter])
lint: install
	$(BIN)/ruff check bot retrieval training tests bench data/actions.py
	$(BIN)/ruff format --check bot retrieval training tests bench data/actions.py
	$(BIN)/lint-imports

## typecheck: mypy over every package, strict on the message path
typecheck: install
	$(BIN)/mypy

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

models: $(MODELS)/intent/frontdesk.json $(MODELS)/sentiment/frontdesk.json $(MODELS)/index/manifest.json

# Each model is retrained when its data changes, and only then.
$(MODELS)/intent/frontdesk.json: $(DATA)/nlu.yml | install
	$(BIN)/frontdesk train intent --data $(DATA)/nlu.yml --out $(MODELS)/intent

$(MODELS)/sentiment/frontdesk.json: $(DATA)/sentiment.csv | install
	$(BIN)/frontdesk train sentiment --data $(DATA)/sentiment.csv --out $(MODELS)/sentiment

$(MODELS)/index/manifest.json: $(DATA)/qa.csv $(DATA)/nlu.yml | install
	$(BIN)/frontdesk index build --data $(DATA)/qa.csv --examples $(DATA)/nlu.yml --out $(MODELS)/index

clean-models:
	rm -rf $(MODELS)
