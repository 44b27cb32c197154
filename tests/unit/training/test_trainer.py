"""trainer: count checks on the training arguments, and the fp16 / bf16 flags for a precision choice."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

from embtune.errors import EmbtuneError
from embtune.training.trainer import POSITIVE_INTS as COUNTS
from embtune.training.trainer import check_counts, precision_flags


def test_sane_arguments_pass() -> None:
    check_counts(
        {
            "per_device_train_batch_size": 16,
            "per_device_eval_batch_size": 32.0,  # a whole float is fine
            "gradient_accumulation_steps": 1,
            "eval_steps": 100,
            "save_steps": None,  # unset: transformers' default
            "logging_steps": 0.1,
            "num_train_epochs": 0.5,
            "max_steps": -1,
            "learning_rate": 0.0,  # not a count: not checked
        }
    )
    check_counts({})  # everything defaults: one epoch


@pytest.mark.parametrize("key", COUNTS)
@pytest.mark.parametrize("value", [0, -1, -0.5, 2.5, "8", True, [8]])
def test_counts_must_be_whole_and_positive(key: str, value: object) -> None:
    with pytest.raises(EmbtuneError, match=rf"^trainer\.args\.{key}=") as info:
        check_counts({key: value})
    assert "whole number >= 1" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("key", ["eval_steps", "save_steps", "logging_steps"])
@pytest.mark.parametrize("value", [0.01, 0.5, 0.99, 1.0, 1, 500])
def test_step_intervals_may_be_a_fraction_of_all_steps(key: str, value: float) -> None:
    check_counts({key: value})


@pytest.mark.parametrize(
    "key", ["per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps"]
)
def test_only_step_intervals_may_be_fractions(key: str) -> None:
    with pytest.raises(EmbtuneError, match=key):
        check_counts({key: 0.5})


@pytest.mark.parametrize("epochs", [0, -1, None])
def test_no_epochs_and_no_max_steps_train_nothing(epochs: object) -> None:
    with pytest.raises(EmbtuneError, match=r"num_train_epochs=.*nothing would be trained"):
        check_counts({"num_train_epochs": epochs, "max_steps": -1})
    with pytest.raises(EmbtuneError, match="num_train_epochs"):
        check_counts({"num_train_epochs": epochs, "max_steps": None})


@pytest.mark.parametrize("epochs", [0, None])
def test_max_steps_alone_is_enough(epochs: object) -> None:
    check_counts({"num_train_epochs": epochs, "max_steps": 10})


def test_max_steps_zero_trains_nothing() -> None:
    with pytest.raises(EmbtuneError, match=r"max_steps=0"):
        check_counts({"num_train_epochs": 3, "max_steps": 0})


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_counts_get_the_one_line_error(value: float) -> None:
    with pytest.raises(EmbtuneError, match="per_device_train_batch_size"):
        check_counts({"per_device_train_batch_size": value})


@pytest.fixture
def cuda(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Pretend a device: (cuda available, bf16 supported)."""

    def _set(available: bool, bf16: bool = False) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)

    return _set


@pytest.mark.parametrize("available", [False, True])
def test_fp32_never_asks_for_mixed_precision(cuda: Callable[..., None], available: bool) -> None:
    cuda(available, bf16=True)
    assert precision_flags("fp32") == {"bf16": False, "fp16": False}


@pytest.mark.parametrize(
    ("available", "bf16", "expected"),
    [
        (False, False, {"bf16": False, "fp16": False}),
        (False, True, {"bf16": False, "fp16": False}),
        (True, True, {"bf16": True, "fp16": False}),
        (True, False, {"bf16": False, "fp16": True}),
    ],
)
def test_auto_picks_what_the_device_supports(
    cuda: Callable[..., None], available: bool, bf16: bool, expected: dict[str, bool]
) -> None:
    cuda(available, bf16)
    assert precision_flags("auto") == expected


@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_mixed_precision_needs_cuda(cuda: Callable[..., None], precision: str) -> None:
    cuda(False)
    with pytest.raises(EmbtuneError, match=rf"trainer\.precision={precision} needs a CUDA GPU"):
        precision_flags(precision)
    cuda(True)
    assert precision_flags(precision) == {"bf16": precision == "bf16", "fp16": precision == "fp16"}


@pytest.mark.parametrize("precision", ["FP16", "fp64", "", "half", "bfloat16"])
def test_unknown_precisions_list_the_choices(precision: str) -> None:
    with pytest.raises(EmbtuneError, match="choose one of auto, fp32, fp16, bf16"):
        precision_flags(precision)


@pytest.mark.parametrize("key, value", [("num_train_epochs", "3"), ("max_steps", "10"), ("num_train_epochs", True)])
def test_epochs_and_max_steps_must_be_numbers(key: str, value: object) -> None:
    with pytest.raises(EmbtuneError, match=rf"trainer.args.{key}=.*must be a number"):
        check_counts({key: value})
