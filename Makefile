# Two commands for a newcomer: `make demo` and `make test`. Both set up .venv from constraints.txt first
# (idempotent: a no-op when pyproject.toml and constraints.txt have not changed since the last install).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STORE_URI ?=

.PHONY: setup browser redis replayweb demo test lint pytest bench interop lock clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

## browser: a Chromium for pages that need JavaScript (Debian's package as root, else Playwright's own)
browser: setup
	tools/ensure-chromium.sh

## redis: a redis-server binary for the distributed-mode tests (Debian's package as root; the tests start their own)
redis:
	tools/ensure-redis.sh

## replayweb: ReplayWeb.page's ui.js and sw.js for `scrapy replay`'s browsing replay (npm, pinned by integrity)
replayweb:
	tools/ensure-replayweb.sh .replayweb

## Memento client for the interoperability test of `scrapy replay` (its own venv: it is not ours to pin)
$(VENV)-memento/.installed:
	$(PYTHON) -m venv $(VENV)-memento
	$(VENV)-memento/bin/python -m pip install --quiet memento_client==0.6.1
	touch $@

## py-wacz, whose `wacz validate` checks our WACZ packages in the tests (its own venv: it pins old dependencies)
$(VENV)-wacz/.installed:
	$(PYTHON) -m venv $(VENV)-wacz
	$(VENV)-wacz/bin/python -m pip install --quiet wacz==0.6.0
	touch $@

## demo: crawl the bundled sample news web into ./data/store (or STORE_URI=...) and say where it went
demo: setup
	-tools/ensure-chromium.sh  # without one, the demo says which pages it could not render
	-tools/ensure-replayweb.sh .replayweb  # without it, `scrapy replay` still serves raw replay and Memento
	$(BIN)/scrapy demo $(if $(STORE_URI),-s STORE_URI=$(STORE_URI))

## test: lint, type-check, then the whole test suite
test: setup browser redis replayweb $(VENV)-memento/.installed $(VENV)-wacz/.installed lint pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

pytest: setup
	$(BIN)/pytest

## bench: every benchmark script, each printing its figures and ratios (the long ones: soak, audit, recovery)
bench: setup browser $(VENV)-pywb/.installed
	$(BIN)/python benchmarks/extraction.py
	$(BIN)/python benchmarks/crawl.py
	$(BIN)/python benchmarks/archive.py
	$(BIN)/python benchmarks/soft404.py
	$(BIN)/python benchmarks/store.py
	$(BIN)/python benchmarks/render.py
	$(BIN)/python benchmarks/hostile.py
	$(BIN)/python benchmarks/replay.py --pywb $(VENV)-pywb/bin
	$(BIN)/python benchmarks/reprocess.py
	$(BIN)/python benchmarks/distributed.py
	$(BIN)/python benchmarks/recovery.py
	$(BIN)/python benchmarks/soak.py
	$(BIN)/python benchmarks/audit.py

## interop: replay a crawl of the sample web in pywb (its own venv: pywb pins old dependencies)
$(VENV)-pywb/.installed:
	$(PYTHON) -m venv $(VENV)-pywb
	$(VENV)-pywb/bin/python -m pip install --quiet pywb
	touch $@

interop: setup $(VENV)-pywb/.installed
	$(BIN)/python tests/interop/pywb_replay.py --pywb $(VENV)-pywb/bin

## soft404-model: rebuild the error-wording lexicon and retrain the page classifier's model on the development
## hosts (tools/train_soft404.py), then measure it on the held-out ones
soft404-model: setup
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev,train]'
	$(BIN)/python tools/build_soft404_lexicon.py
	$(BIN)/python tools/train_soft404.py
	$(BIN)/python benchmarks/soft404.py

## lock: re-pin constraints.txt from the current .venv (after changing dependencies in pyproject.toml)
lock:
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^palimpsest' > constraints.txt

clean:
	rm -rf $(VENV) $(VENV)-pywb $(VENV)-memento $(VENV)-wacz .replayweb data .mypy_cache .ruff_cache .pytest_cache
