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

.PHONY: install book test unit chapters lint clean gpu-check

install: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python >= 3.10 needed)"; exit 1; }
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	@echo "installing latentkit and its pinned dependencies into $(VENV) ..."
	@$(PY) -m pip install --quiet --upgrade pip $(PIP_QUIET)
	@PYTHONWARNINGS=ignore $(PY) -m pip install --quiet -e ".[dev]" $(PIP_QUIET)
	@$(PY) -c "import latentkit, torch, torchvision, jupyter_book, nbval, papermill" \
		|| { echo "error: the installation into $(VENV) is incomplete"; exit 1; }
	@touch $(STAMP)

# The book: every chapter executed at its default (ci) scale; a failing cell fails the build.
book: install
	$(VENV)/bin/jupyter-book build --all -W --keep-going .
	@echo "book: $(CURDIR)/_build/html/index.html"

# Unit tests, the docstring examples of the library, then every chapter under nbval (one pytest run).
test: install
	$(PY) -m pytest -q --nbval-lax --nbval-current-env --doctest-modules -p no:cacheprovider $(PYTEST_FLAGS) tests latentkit book

unit: install
	$(PY) -m pytest -q --doctest-modules $(PYTEST_FLAGS) tests latentkit

chapters: install
	$(PY) -m pytest -q --nbval-lax --nbval-current-env $(PYTEST_FLAGS) book

# On a CUDA machine: every method's paper-scale preset trained briefly (bf16 and torch.compile on and off, a
# resume check), measured into gpu_check.json or $(OUT) (under 8 minutes on one H100/H200; refuses without CUDA).
gpu-check: install
	$(PY) -m latentkit.experiments.gpu_check --out $(or $(OUT),gpu_check.json)

lint: install
	$(PY) -m compileall -q latentkit tests

clean:
	rm -rf _build runs .pytest_cache
