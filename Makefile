# One command runs the demo, one runs the tests; both create the virtual environment first.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test screenshots

$(VENV)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

demo: $(VENV)/.installed
	PATH="$(abspath $(VENV))/bin:$$PATH" bash scripts/demo.sh

test: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

# Refresh docs/screenshots from the demo collection (needs /usr/bin/chromium).
screenshots: $(VENV)/.installed
	VLSEARCH_DATA_DIR=data/demo $(PY) -m pipeline ingest --manifest samples/manifest.jsonl
	$(PY) scripts/app_screenshots.py --data-dir data/demo --out docs/screenshots
