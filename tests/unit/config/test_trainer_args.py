"""trainer.args.<field>=value for any SentenceTransformerTrainingArguments field, as typed; misspelt ones named."""

from __future__ import annotations

import pytest

from embtune.config.trainer_args import fields, open_trainer_args
from embtune.errors import EmbtuneError


def test_every_field_of_the_dataclass_is_known() -> None:
    assert {"max_steps", "eval_steps", "save_steps", "gradient_accumulation_steps", "batch_sampler"} <= fields()
    assert len(fields()) > 100


def test_overrides_of_real_fields_become_add_or_override_and_others_pass_through() -> None:
    argv = ["trainer.args.max_steps=300", "+trainer.args.eval_steps=50", "++trainer.args.save_steps=50", "model=tiny"]
    assert open_trainer_args(argv) == [
        "++trainer.args.max_steps=300",
        "++trainer.args.eval_steps=50",
        "++trainer.args.save_steps=50",
        "model=tiny",
    ]
    assert open_trainer_args(["trainer.precision=fp32", "-m"]) == ["trainer.precision=fp32", "-m"]


def test_a_misspelt_field_names_the_closest_real_ones() -> None:
    with pytest.raises(EmbtuneError) as err:
        open_trainer_args(["trainer.args.max_step=300"])
    line = str(err.value)
    assert "\n" not in line and "trainer.args.max_step is not" in line and "Closest: max_steps" in line
    assert line.endswith("Fix: trainer.args.max_steps=...")
