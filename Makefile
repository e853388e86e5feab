# redunet-book: the two commands of the README are `make book` and `make test`.
#
# Works on a fresh Debian machine with python3 (+ venv), node/npm and apt; `make test` is what
# .ci/run calls. Everything lands in the repository: .venv/ (Python env), node_modules/ and
# book_assets/ (vendored browser assets), _build/ (the book). `make help` lists the targets.

SHELL       := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

# PYTHON creates the venv and runs the stdlib-only tools; INSTALLED is the stamp saying that the
# venv matches pyproject.toml + constraints.txt.
PYTHON    ?= python3
VENV      ?= .venv
PY        := $(VENV)/bin/python
PIP       := $(PY) -m pip
INSTALLED := $(VENV)/.installed
# torch is installed first, alone, pinned (a CPU build on the project's machines). Extra pip
# arguments for that step only, e.g. TORCH_INSTALL_ARGS="--index-url https://download.pytorch.org/whl/cpu"
TORCH_PIN          ?= torch==2.13.0
TORCH_INSTALL_ARGS ?=
CHROMIUM  ?= /usr/bin/chromium
PORT      ?= 8000
LAB_PORT  ?= 8888
# The book build executes every notebook once, and -W turns a failing cell into a build error, so the
# notebooks are not run a second time under pytest. PYTEST_ARGS=--nbmake runs them under pytest too.
PYTEST_ARGS ?=

BOOK_BUILD := $(VENV)/bin/jupyter-book build --all -W --keep-going .

# MNIST (chapters 08, 10, 10b, 10c, 11): `make data` makes the test split available before any
# notebook runs: found in $REDUNET_DATA (or the user cache folder, ~/.cache/redunet_book/mnist), else
# downloaded from the mirrors (SHA-256 checked), else copied from the offline mirror folder MNIST_MIRROR
# (default: ../shared/data/mnist beside the repository, where it exists), else it stops with one line.
# Fashion-MNIST (chapter 10e) comes from Debian's dataset-fashion-mnist (installed with apt-get as root),
# else from its mirror. It needs only python3 (the standard library), so it runs before the environment is installed.
MNIST_MIRROR ?= $(or $(REDUNET_MNIST_MIRROR),../shared/data/mnist)

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help install data assets chromium lint book lab test serve clean distclean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: $(INSTALLED) ## create .venv with the pinned environment (redone when pyproject.toml or constraints.txt change)

$(INSTALLED): pyproject.toml constraints.txt
	@if [ ! -x "$(PY)" ]; then echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); fi
	$(PIP) install -c constraints.txt $(TORCH_INSTALL_ARGS) "$(TORCH_PIN)"
	$(PIP) install -c constraints.txt -e ".[dev]"
	@touch $@

assets: ## vendor MathJax, RequireJS and the ipywidgets html-manager into book_assets/ (npm ci; fast when done)
	$(PYTHON) tools/vendor_assets.py

chromium: ## make sure Debian's chromium is there for the browser test (apt-get, as root); never fails
	@if [ -x "$(CHROMIUM)" ]; then \
	  echo "chromium: $(CHROMIUM) is installed"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "chromium: installing Debian's chromium with apt-get"; \
	  if apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; then \
	    echo "chromium: installed"; \
	  else \
	    echo "WARNING: could not install chromium with apt-get: the browser tests (tests/test_site.py, test_online.py, test_lab.py) will be SKIPPED"; \
	  fi; \
	else \
	  echo "WARNING: $(CHROMIUM) is missing and cannot be installed here (needs root and apt-get):"; \
	  echo "         the browser tests (tests/test_site.py, test_online.py, test_lab.py) will be SKIPPED. Install it with: apt-get install chromium"; \
	fi

data: ## make MNIST (REDUNET_DATA / cache, else download, else copy from MNIST_MIRROR) and Fashion-MNIST available
	@if [ ! -d /usr/share/datasets/fashion-mnist ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "data: installing Debian's dataset-fashion-mnist with apt-get"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends dataset-fashion-mnist >/dev/null 2>&1 || \
	  { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	    dataset-fashion-mnist >/dev/null 2>&1; } || echo "data: apt-get could not install dataset-fashion-mnist; trying its mirror"; \
	fi; \
	if [ -d "$(MNIST_MIRROR)" ]; then export REDUNET_MNIST_MIRROR="$$(cd "$(MNIST_MIRROR)" && pwd)"; fi; \
	$(PYTHON) -m redunet_book.fetch

book: data install assets ## build the book into _build/html (executes every notebook; warnings are errors)
	$(BOOK_BUILD)

lint: install ## ruff over the package, tests, benchmarks and tools (settings in pyproject.toml)
	$(VENV)/bin/ruff check redunet_book tests benchmarks book_ext tools

test: lint chromium book ## the full test suite: lint, build the book with -W (runs every notebook), then pytest over tests/
	REDUNET_BOOK_REQUIRE_SITE=1 $(PY) -m pytest $(PYTEST_ARGS)

lab: install ## start JupyterLab on http://127.0.0.1:8888 in nbs/ (LAB_PORT=...), for running the chapters
	$(VENV)/bin/jupyter lab --no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port=$(LAB_PORT) --notebook-dir=nbs

serve: ## serve the built book on http://127.0.0.1:8000 (PORT=...)
	@test -f _build/html/index.html || { echo "no built book: run 'make book' first"; exit 1; }
	$(PYTHON) -m http.server $(PORT) --bind 127.0.0.1 --directory _build/html

clean: ## remove build outputs (_build, vendored assets, caches); keeps .venv and node_modules
	rm -rf _build _proc _docs book_assets book_assets.tmp book_assets.old .pytest_cache
	find . -path ./.venv -prune -o -path ./node_modules -prune -o -path ./.git -prune -o \
	  -name __pycache__ -type d -print0 | xargs -0 rm -rf

distclean: clean ## clean, and also remove .venv and node_modules
	rm -rf $(VENV) node_modules
