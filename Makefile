# The two set-up commands: `make run` (install, train the default model, print samples) and
# `make test` (install with the dev extras, run the whole suite). Both create .venv if missing.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
# The corpora mirror beside the checkout, when there is one (CI and developers); else downloads.
SHARED_CORPORA := $(abspath ../shared/corpora)
export CHARRNN_DATA ?= $(if $(wildcard $(SHARED_CORPORA)),$(SHARED_CORPORA),)

.PHONY: install run test bench clean browser

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

install: $(VENV)/.installed

run: install
	$(PY) -m charrnn.commands.demo

# The browser test drives Debian's Chromium (never `playwright install`); the font renders Chinese
# in its screenshots. Without root this fails quietly and the browser test skips (with CI=true it fails).
browser:
	-@command -v chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium fonts-wqy-microhei)

test: install browser
	$(PY) -m pytest -q

bench: install
	$(PY) benchmarks/bench_speed.py
	$(PY) benchmarks/bench_engines.py

clean:
	rm -rf $(VENV) runs .pytest_cache
