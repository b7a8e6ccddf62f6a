# latentkit: `make book` builds the executed book, `make test` runs the tests and every chapter.
# Both bootstrap the virtual environment in .venv themselves (about 6 GB, a few minutes the first time).

SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.latentkit-installed
# This workplace's pip configuration lists mirrors that are not folders; hide that noise only.
PIP_QUIET := 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true
PYTEST_FLAGS ?=
# make test runs the test modules and the chapters on this many processes (pytest-xdist; each chapter stays on
# one process, its cells in order: --dist loadscope). auto: one per CPU core.
PYTEST_WORKERS ?= auto

.PHONY: install book test unit chapters lint clean gpu-check

install: $(STAMP)

# The library, its book and test extras, at the exact versions of constraints.txt (made on CPython 3.11; the
# library alone supports Python >= 3.10, but the pinned numpy, SciPy, ... need 3.11).
$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python >= 3.11 needed)"; exit 1; }
	@$(PYTHON) -c "import sys; sys.exit(sys.version_info < (3, 11))" \
		|| { echo "error: $(PYTHON) is older than 3.11, which constraints.txt needs (set PYTHON=python3.11)"; exit 1; }
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	@echo "installing latentkit and its pinned dependencies (constraints.txt) into $(VENV) ..."
	@$(PY) -m pip install --quiet --upgrade pip $(PIP_QUIET)
	@PYTHONWARNINGS=ignore $(PY) -m pip install --quiet -e ".[book,test]" -c constraints.txt $(PIP_QUIET)
	@$(PY) -c "import latentkit, torch, torchvision, jupyter_book, nbval, papermill" \
		&& [ -x $(VENV)/bin/ruff ] \
		|| { echo "error: the installation into $(VENV) is incomplete"; exit 1; }
	@touch $(STAMP)

# The book: every chapter executed at its default (ci) scale; a failing cell fails the build. jupyter-cache
# (_build/.jupyter_cache) re-executes only the chapters whose notebook changed; it is emptied first when the
# library, the pins or the book configuration changed since it was filled (BOOK_KEY), as it cannot see those.
BOOK_KEY = $(shell cat pyproject.toml constraints.txt _config.yml $$(find latentkit book/_ext -name '*.py' | sort) \
	| sha256sum | cut -c1-16)
book: install
	@mkdir -p _build
	@if [ "$$(cat _build/.book-key 2>/dev/null)" != "$(BOOK_KEY)" ]; then \
		[ ! -d _build/.jupyter_cache ] || echo "book: the library or configuration changed: every chapter runs again"; \
		rm -rf _build/.jupyter_cache; echo "$(BOOK_KEY)" > _build/.book-key; fi
	$(VENV)/bin/jupyter-book build --all -W --keep-going .
	@echo "book: $(CURDIR)/_build/html/index.html"

# ruff (lint rules and formatting, configured in pyproject.toml), then the unit tests, the docstring examples of
# the library and every chapter under nbval (one pytest run).
test: install
	$(VENV)/bin/ruff check latentkit tests
	$(VENV)/bin/ruff format --check latentkit tests
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --dist loadscope --nbval-lax --nbval-current-env --doctest-modules \
		-p no:cacheprovider $(PYTEST_FLAGS) tests latentkit book

unit: install
	$(PY) -m pytest -q --doctest-modules $(PYTEST_FLAGS) tests latentkit

chapters: install
	$(PY) -m pytest -q --nbval-lax --nbval-current-env $(PYTEST_FLAGS) book

# On a CUDA machine: every method's paper-scale preset trained briefly (bf16 and torch.compile on and off, a
# resume check), measured into gpu_check.json or $(OUT) (under 8 minutes on one H100/H200; refuses without CUDA).
gpu-check: install
	$(PY) -m latentkit.experiments.gpu_check --out $(or $(OUT),gpu_check.json)

# ruff alone, as `make test` runs it first; `ruff check --fix` and `ruff format` fix most findings.
lint: install
	$(VENV)/bin/ruff check latentkit tests
	$(VENV)/bin/ruff format --check latentkit tests

clean:
	rm -rf _build runs .pytest_cache
