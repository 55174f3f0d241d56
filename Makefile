# One command runs the demo, one runs the tests; both create the virtual environment and install the project first.
VENV ?= .venv
PY := $(VENV)/bin/python
# The fast tier: everything not marked slow (models, OCR of whole collections, subprocesses) or browser.
FAST := not slow and not browser

.PHONY: demo test test-fast lint format screenshots

$(VENV)/.installed: pyproject.toml requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	PATH="$(abspath $(VENV))/bin:$$PATH" bash scripts/demo.sh

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) scripts/config_docs.py --check

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: lint
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: $(VENV)/.installed
	$(PY) -m pytest -m "$(FAST)" $(PYTEST_ARGS)

# Refresh docs/screenshots from the demo collection (needs /usr/bin/chromium).
screenshots: $(VENV)/.installed
	VLSEARCH_DATA_DIR=data/demo $(VENV)/bin/vlsearch ingest --manifest samples/manifest.jsonl
	$(PY) scripts/app_screenshots.py --data-dir data/demo --out docs/screenshots
