# Two entry points for a fresh machine (see README):
#   make demo   installs aiplane and runs the main job on the example stack, no cluster needed
#   make test   installs, lints, type-checks and runs every test (the real control plane included)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CODE   := aiplane tests bench scripts

.PHONY: install demo test lint unit cluster-bin schema golden clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/aiplane validate stacks/seed.yaml
	$(BIN)/aiplane render stacks/seed.yaml -o out/seed
	$(BIN)/aiplane explain stacks/seed.yaml
	$(BIN)/aiplane plan stacks/seed.yaml --against empty

lint: install
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -m "not cluster"

# The control plane is built here first (cached) so its build time and failures show on their own;
# the pytest fixture would otherwise build it on first use. kustomize (for the Flux tests) likewise.
cluster-bin:
	$(PYTHON) scripts/local-cluster build
	$(PYTHON) tests/servers/kustomize.py

test: lint cluster-bin
	$(BIN)/pytest

schema: install
	$(BIN)/aiplane schema > schemas/stack.schema.json
	$(BIN)/python -m aiplane.stack.reference

golden: install
	AIPLANE_UPDATE_GOLDEN=1 $(BIN)/pytest tests/golden

clean:
	rm -rf out .mypy_cache .ruff_cache .pytest_cache
