"""embtune.search.space: candidates, the halving plan, gains with their ranges, the ship rule, the experiment YAML."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from embtune.errors import EmbtuneError
from embtune.search.decision import decide, gain
from embtune.search.space import candidates, experiment_yaml, recipe_overrides, rung_sizes

CONF = Path("conf").resolve()
SPACE = OmegaConf.to_container(OmegaConf.load(CONF / "tune.yaml").tune.space)


def test_the_recipe_comes_first_then_distinct_draws_one_option_per_axis() -> None:
    cands = candidates(SPACE, 6, seed=0)
    assert cands[0].name == "recipe" and cands[0].overrides == []
    names = [c.name for c in cands[1:]]
    assert len(names) == 5 == len(set(names))
    for c in cands[1:]:
        parts = c.name.split(" · ")
        assert [p in opts for p, opts in zip(parts, SPACE.values(), strict=True)] == [True] * len(SPACE)
    assert [c.name for c in candidates(SPACE, 6, seed=0)] == [c.name for c in cands]  # the seed decides
    assert [c.name for c in candidates(SPACE, 6, seed=1)] != [c.name for c in cands]
    with pytest.raises(EmbtuneError, match="num_candidates=0"):
        candidates(SPACE, 0, seed=0)


@pytest.mark.parametrize(
    ("n", "eta", "sizes"), [(6, 3, [6, 2, 1]), (9, 3, [9, 3, 1]), (1, 3, [1]), (5, 2, [5, 3, 2, 1])]
)
def test_successive_halving_keeps_the_best_1_over_eta(n: int, eta: int, sizes: list[int]) -> None:
    assert rung_sizes(n, eta) == sizes


def test_eta_below_2_is_refused() -> None:
    with pytest.raises(EmbtuneError, match="tune.eta=1"):
        rung_sizes(4, 1)


def test_gain_is_paired_on_the_queries_both_scored() -> None:
    base = {f"q{i}": 0.5 for i in range(40)}
    after = {f"q{i}": 0.6 if i % 2 else 0.5 for i in range(40)} | {"extra": 1.0}
    g = gain(after, base, 0.9, 2000, 0)
    assert g["queries"] == 40 and g["gain"] == pytest.approx(0.05) and g["dev"] == pytest.approx(0.55)
    assert 0 < g["low"] < 0.05 < g["high"] < 0.1
    same = gain(base, base, 0.9, 2000, 0)
    assert same["gain"] == same["low"] == same["high"] == 0


def test_the_winner_ships_only_when_the_lower_bound_is_above_zero() -> None:
    ship, why = decide({"candidate": "lr6e-5", "gain": 0.03, "low": 0.004, "high": 0.05, "queries": 60}, 0.9)
    assert ship and why.startswith("shipped 'lr6e-5'") and "[+0.0040..+0.0500]" in why
    ship, why = decide({"candidate": "lr6e-5", "gain": 0.03, "low": -0.001, "high": 0.05, "queries": 60}, 0.9)
    assert not ship and why.startswith("shipped the base") and "not above 0" in why and "\n" not in why
    assert decide({"candidate": "x", "gain": 0.0, "low": 0.0, "high": 0.0}, 0.9)[0] is False


def test_recipe_overrides_drop_where_and_how_a_run_is_made() -> None:
    given = ["experiment=x", "paths.data_dir=../d", "logger=wandb", "tune.eta=2", "loss=gist", "evaluate_bm25=false"]
    assert recipe_overrides(given) == ["experiment=x", "loss=gist"]


def test_the_experiment_yaml_composes_to_the_same_run_as_its_overrides(tmp_path: Path) -> None:
    overrides = [
        "experiment=scifact_minilm",
        "dataset.dev_fraction=0.15",
        "loss=gist",
        "data_format=triplets",
        "mining=bm25",
        "mining.range_min=3",
        "trainer.args.learning_rate=1.0e-4",
        "++trainer.args.max_steps=60",
    ]
    groups = {"experiment", "loss", "data_format", "mining", "model", "dataset", "trainer"}
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "tuned_x.yaml").write_text(experiment_yaml(overrides, groups, "chosen\nby a test"))
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            direct = compose("train", overrides=overrides)
            via_yaml = compose("train", overrides=["experiment=tuned_x", f"hydra.searchpath=[file://{tmp_path}]"])
    finally:
        GlobalHydra.instance().clear()
    for key in ("loss", "mining", "data_format", "dataset", "trainer", "model"):
        assert OmegaConf.to_container(direct[key]) == OmegaConf.to_container(via_yaml[key]), key
    assert via_yaml.mining.range_min == 3 and via_yaml.trainer.args.max_steps == 60 and via_yaml.loss.name == "gist"


def test_the_final_candidate_is_ranked_by_its_best_finished_run_not_a_skipped_one() -> None:
    from embtune.search.decision import ranked
    from embtune.search.space import Candidate

    recipe, better, failed = Candidate("recipe", []), Candidate("better", []), Candidate("failed", [])
    recipe.runs = [{"rung": 0, "dev": 0.17}, {"rung": 1, "dev": None}]  # promoted, then skipped for the budget
    better.runs = [{"rung": 0, "dev": 0.18}, {"rung": 1, "dev": None}]
    failed.runs = [{"rung": 0, "dev": None}]
    assert [c.name for c in ranked([recipe, better, failed])] == ["better", "recipe"]
    assert [c.name for c in ranked([failed])] == ["failed"]  # nothing finished: the first (the recipe) goes on
