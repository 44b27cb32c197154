"""A budgeted recipe search on dev, for any dataset: the run you would launch plus candidates drawn from
``tune.space`` (learning rate, loss, negatives, batch size), trained by successive halving (all at a fraction of the
recipe's steps, the best 1/eta promoted, the winner at full length) within ``tune.budget_minutes``. Every candidate
is scored against the base model on the same dev queries with a paired bootstrap; the winner ships only when the
lower bound of its gain is above 0, else the base ships with that reason. Test is read once, for what ships.

python -m embtune.tune                                                           # embedded data (= make tune)
python -m embtune.tune experiment=scifact_minilm_lr6e5 paths.data_dir=../shared/data     # (= make tune-scifact)
python -m embtune.tune dataset=beir dataset.name=mydata tune.budget_minutes=120 tune.num_candidates=9
"""

from __future__ import annotations

import logging
import statistics
import time
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from transformers import set_seed

from embtune.config.paths import CONF_DIR
from embtune.config.trainer_args import with_trainer_args
from embtune.run.console_guard import guard_console
from embtune.run.failure import raise_on_signals, run_or_fail
from embtune.run.files import write_json_atomic
from embtune.search.decision import promote, ranked
from embtune.search.dev import base_dev_queries, dev_setup
from embtune.search.plan import Costs, grown_length, load_plan, own_steps, plan_with_dev, shape_factor, step_scale
from embtune.search.reports import experiment_root, finish, write_experiment
from embtune.search.runner import CALIBRATION, SHORT_RUN, Runner, composed_args, composed_shape, resource, run_length
from embtune.search.space import candidates, recipe_overrides, rung_sizes

log = logging.getLogger("embtune.tune")


def tune(cfg: DictConfig, run_dir: Path) -> dict[str, Any]:
    """Search, decide, write tune.csv / tune.md / tune.png / profile.json, the chosen experiment YAML, model/ and
    metrics.json (last); returns the metrics."""
    started, t = time.monotonic(), cfg.tune
    deadline = started + float(t.budget_minutes) * 60
    set_seed(cfg.seed)
    user = list(HydraConfig.get().overrides.task)
    recipe = recipe_overrides(user)
    # what every candidate run takes as given (the tune's own settings and dir are not theirs)
    passthrough = [
        o for o in user if o not in recipe and not o.lstrip("+~").startswith(("tune.", "paths.output_dir", "hydra."))
    ]
    groups = {g.split("/")[0] for g in HydraConfig.get().runtime.choices if not g.startswith("hydra")}

    # 1. Candidates, each composed now: a typo in tune.space stops here, not an hour in.
    space = OmegaConf.to_container(t.space, resolve=True) or {}
    for axis, options in space.items():
        for option, overrides in (options or {}).items():
            composed_args(recipe + list(overrides), f"tune.space.{axis}.{option}")
    cands = candidates(space, int(t.num_candidates), cfg.seed)
    shapes = {c.name: composed_shape(recipe + c.overrides, f"candidate '{c.name}'") for c in cands}
    for c in cands:
        c.factor, c.scale = shape_factor(shapes["recipe"], shapes[c.name]), step_scale(shapes["recipe"], shapes[c.name])
    sizes = rung_sizes(len(cands), int(t.eta))

    # 2. The base on dev, query by query: what every candidate must beat (the same queries, the same corpus sample),
    #    and what one dev pass costs here.
    metric = str(cfg.evaluator.main_metric)
    setup = dev_setup(cfg, metric)
    base, measured = base_dev_queries(cfg, setup)

    # 3. The plan, before any candidate trains: a calibration run times a step, then every length and dev pass is
    #    chosen so that the whole search fits the budget. A continued tune keeps the plan it made.
    runner = Runner(run_dir, passthrough, started, deadline, base, t, len(cands), sum(sizes))
    plan = load_plan(run_dir)
    if plan is None:
        costs = runner.calibrate(recipe + resource(int(t.calibrate_steps)) + CALIBRATION, measured)
        plan, _ = plan_with_dev(
            sizes, [c.factor for c in cands], costs, measured["ceiling_steps"], float(t.budget_minutes),
            int(t.eta), measured["dev"], int(t.final_dev_passes), int(t.min_steps), int(t.min_dev_queries),
            spent_minutes=runner.spent_s() / 60,
        )  # fmt: skip
        write_json_atomic(run_dir / "plan.json", plan.as_dict())
    else:
        print(f"tune: continuing {run_dir}: the plan made at its start is kept", flush=True)
    if plan.dev_queries is not None:  # every run, the base and the chosen recipe evaluate on the same sample
        recipe.append(f"++dataset.dev_queries={plan.dev_queries}")
        base, _ = base_dev_queries(cfg, setup, plan.dev_queries)
        runner.base = base
    base_dev = statistics.fmean(base.values())
    write_json_atomic(run_dir / "base_dev.json", {"metric": metric, "dev": base})  # for paired reads later
    runner.costs = Costs(**{k: plan.costs[k] for k in ("fixed_s", "step_s", "dev_pass_s", "final_extra_s")})
    print(
        f"tune: {len(cands)} candidates, rungs {' -> '.join(map(str, sizes))} (eta {t.eta}); base dev {metric} "
        f"{base_dev:.4f} over {len(base)} queries",
        flush=True,
    )
    for line in plan.lines([c.name for c in cands]):
        print(line, flush=True)

    # 4. Successive halving: every candidate at the shortest length, the best 1/eta promoted, the winner in full.
    alive = cands
    for rung, size in enumerate(sizes[:-1]):
        if rung:
            alive = promote(alive, rung - 1, size)
        for c in alive:
            length = run_length(own_steps(plan.steps[rung], c.scale), 1)
            runner.short(c, rung, plan, recipe + c.overrides + length + SHORT_RUN)
    winner = ranked(cands)[0] if len(sizes) > 1 else cands[0]  # the plan reserved its full run

    # 5. The winner in full: the plan's length, longer when its dev curve still rose and the search came in under
    #    its estimate; as an experiment YAML, run exactly as `python -m embtune.train experiment=<it>` runs it.
    full = grown_length(runner.deadline - time.monotonic(), runner.costs, winner, plan, base_dev)
    length = run_length(own_steps(full, winner.scale), plan.dev_passes[-1])
    name, yaml_path = write_experiment(
        cfg, run_dir, recipe + winner.overrides + length, groups, winner, base_dev, metric
    )
    search = [f"hydra.searchpath=[file://{experiment_root(cfg, run_dir).resolve()}]"]
    final = runner.final(winner, len(sizes), [f"experiment={name}", *search])

    # 6. Ship the winner only if its dev gain's lower bound is above 0; test figures of what ships, nothing else.
    return finish(cfg, run_dir, runner, cands, winner, final, base_dev, metric, name, yaml_path, plan)


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="tune")
def main(cfg: DictConfig) -> None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    (run_dir / "FAILED").unlink(missing_ok=True)  # a stopped tune this command continues (CheckRunDir found it)
    raise_on_signals(run_dir, again=True)
    run_or_fail(run_dir, lambda: tune(cfg, run_dir), resumable="again")


def cli() -> None:
    """The command line: trainer.args.<any field>=value works as typed (embtune.config.trainer_args), then Hydra."""
    guard_console()  # secret values never reach the console, Hydra's own lines included
    with_trainer_args(main)


if __name__ == "__main__":
    cli()
