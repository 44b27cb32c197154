"""redact: secret-looking keys lose their values in nested configs and in Hydra override strings."""

from __future__ import annotations

import copy

import pytest

from embtune.run.redact import REDACTED, redact, redact_argv, redact_text


@pytest.mark.parametrize(
    "name",
    ["api_key", "hf_token", "client_secret", "password", "db_passwd", "pwd", "gcp_credentials", "auth",
     "API_KEY", "HF_Token", "Secret", "PassWord", "AuthHeader", "oauth"],
)  # fmt: skip
def test_every_marker_in_any_case_is_redacted_at_depth(name: str) -> None:
    cfg = {"outer": {"inner": [{name: "s3cr3t", "keep": "visible"}]}}
    assert redact(cfg) == {"outer": {"inner": [{name: REDACTED, "keep": "visible"}]}}


def test_non_secret_keys_and_plain_values_stay_untouched() -> None:
    cfg = {
        "model": {"name_or_path": "sentence-transformers/all-MiniLM-L6-v2", "max_seq_length": 256},
        "mining": {"tokenizer": "stem", "max_tokens": 512},
        "dataset": {"author": "me", "keywords": ["churn", "billing"], "num_tokens": 3},
        "hydra": {"job": {"config": {"override_dirname": {"exclude_keys": ["seed"]}}}},
        "comment": "my api_key is not a key here, only a value",
        "seeds": [1, 2, 3],
    }
    assert redact(cfg) == cfg


def test_redact_returns_a_copy() -> None:
    cfg = {"logger": {"api_key": "sk-1"}, "items": [{"token": "t"}]}
    before = copy.deepcopy(cfg)
    out = redact(cfg)
    assert cfg == before
    assert out["logger"] is not cfg["logger"] and out["items"] is not cfg["items"]


def test_whole_subtrees_under_a_secret_key_are_replaced() -> None:
    cfg = {"auth": {"user": "me", "pass": "x"}, "tokens": ["a", "b"], "credential": {"nested": {"deep": 1}}}
    assert redact(cfg) == {"auth": REDACTED, "tokens": REDACTED, "credential": REDACTED}


def test_non_string_secret_values_are_redacted_and_empty_ones_kept() -> None:
    cfg = {"token": 0, "api_key": 12345, "secret": False, "pwd": "", "password": None, "keys": [], "auth": {}}
    assert redact(cfg) == {
        "token": REDACTED,
        "api_key": REDACTED,
        "secret": REDACTED,
        "pwd": "",
        "password": None,
        "keys": [],
        "auth": {},
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("${oc.env:WANDB_API_KEY}", "${oc.env:WANDB_API_KEY}"),  # a variable's name: kept, reruns need it
        ("${oc.env:HF_TOKEN,sk-default}", REDACTED),  # a default may be the secret itself
        ("${logger.other_key}", REDACTED),
        ("prefix ${oc.env:X}", REDACTED),
        ("${oc.env:X}${oc.env:Y}", REDACTED),
    ],
)
def test_only_a_bare_env_reference_survives(value: str, expected: str) -> None:
    assert redact({"api_key": value}) == {"api_key": expected}


def test_lists_and_scalars_at_the_top_level() -> None:
    assert redact([{"token": "t"}, "token", 3, None, [{"pwd": "p"}]]) == [
        {"token": REDACTED},
        "token",
        3,
        None,
        [{"pwd": REDACTED}],
    ]
    assert redact("api_key=sk-1") == "api_key=sk-1"  # plain strings are values, not configs
    assert redact({1: "one", 2: {"secret": "s"}}) == {1: "one", 2: {"secret": REDACTED}}


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("a.b.api_key=xyz", "a.b.api_key=<redacted>"),
        ("+wandb.token=abc123", "+wandb.token=<redacted>"),
        ("++logger.api_key=abc", "++logger.api_key=<redacted>"),
        ("~logger.password=abc", "~logger.password=<redacted>"),
        ("hydra.job.env_set.WANDB_API_KEY=abc", "hydra.job.env_set.WANDB_API_KEY=<redacted>"),
        ("a.api_key='x y'", "a.api_key=<redacted>"),
        ('db.password="p,w"', "db.password=<redacted>"),
        ("a.token=choice(x,y)", "a.token=<redacted>"),
        ("a.token=x,y", "a.token=<redacted>"),
        ("a.api_key=${oc.env:API_KEY}", "a.api_key=${oc.env:API_KEY}"),
        ("logger.api_key=", "logger.api_key="),
        ("+foo={api_key: v, name: x}", "+foo={api_key: <redacted>, name: x}"),
        ("+x={token: 'a,b', n: 1}", "+x={token: <redacted>, n: 1}"),
        ("+a.b=[{token: t}, 5]", "+a.b=[{token: <redacted>}, 5]"),
        ("+auth={user: me}", "+auth=<redacted>"),
    ],
)
def test_secret_overrides_are_redacted(arg: str, expected: str) -> None:
    assert redact_argv([arg]) == [expected]


@pytest.mark.parametrize(
    "arg",
    [
        "model=minilm",
        "mining.tokenizer=stem",
        "trainer.args.num_train_epochs=3",
        "dataset.name='api key docs'",
        "~logger.api_key",  # a deletion carries no value
        "--multirun",
        "evaluator.ir.ndcg_at_k=[10,100]",
        "+foo={name: x, n: 1}",
    ],
)
def test_non_secret_overrides_are_untouched(arg: str) -> None:
    assert redact_argv([arg]) == [arg]


def test_redact_argv_keeps_order_and_length_and_copies() -> None:
    argv = ["model=minilm", "logger.api_key=sk", "seed=1"]
    out = redact_argv(argv)
    assert out == ["model=minilm", "logger.api_key=<redacted>", "seed=1"]
    assert argv == ["model=minilm", "logger.api_key=sk", "seed=1"]
    assert redact_argv([]) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a=1,logger.api_key=sk,b=2", "a=1,logger.api_key=<redacted>,b=2"),  # Hydra's override_dirname
        ("logger.api_key=sk1,sk2,b=2", "logger.api_key=<redacted>,b=2"),  # a sweep value goes whole
        ("password: 'it\\'s', user: me", "password: <redacted>, user: me"),
        ("no secrets here", "no secrets here"),
        ("token=", "token="),
    ],
)
def test_redact_text(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize("name", ["Authorization", "proxy_authorization", "session_tokens", "tokenizer_api_key"])
def test_names_that_merely_start_like_an_everyday_word_are_still_secret(name: str) -> None:
    assert redact({"headers": {name: "Bearer sk-1"}}) == {"headers": {name: REDACTED}}


def test_secret_values_come_from_secret_named_overrides_and_environment_variables(tmp_path) -> None:  # noqa: ANN001
    from embtune.run.redact import secret_values

    argv = [
        "+logger.api_key='sk-quoted-1'",
        "-m",
        "+foo.token=sk-sweep-a,sk-sweep-b",
        "+bar={password: sk-nested-2, name: visible-name}",
        "+short.key=abc",  # too short to scrub by value (still redacted by key name in records)
        "+env.key=${oc.env:MY_KEY}",
        "model.name_or_path=sk-not-a-secret-key-name",
    ]
    environ = {"HF_TOKEN": "hf_env_secret", "PWD": "/work/here", "SSH_AUTH_SOCK": str(tmp_path), "HOME": "/root"}
    found = secret_values(argv, environ)
    assert {"sk-quoted-1", "sk-sweep-a", "sk-sweep-b", "sk-nested-2", "hf_env_secret"} <= found
    assert not found & {"abc", "visible-name", "sk-not-a-secret-key-name", "/work/here", str(tmp_path), "/root"}
    assert not any("oc.env" in v for v in found)


def test_scrub_replaces_every_occurrence_longest_first() -> None:
    from embtune.run.redact import REDACTED, scrub

    values = frozenset({"secret-1", "secret-12345"})
    text = "Error executing job with overrides: ['+a.key=secret-12345', '+b.key=secret-1']"
    assert scrub(text, values) == f"Error executing job with overrides: ['+a.key={REDACTED}', '+b.key={REDACTED}']"


def test_a_secret_is_scrubbed_in_its_json_escaped_form_too() -> None:
    import json

    from embtune.run.redact import REDACTED, scrub, secret_values

    values = secret_values(['+logger.api_key=p\u00e4ss"wort99'], {})
    record = json.dumps({"argv": ['+logger.api_key=p\u00e4ss"wort99']})
    assert "wort99" not in scrub(record, values) and REDACTED in scrub(record, values)


def test_a_launcher_workers_job_overrides_add_to_the_known_secrets(monkeypatch) -> None:  # noqa: ANN001
    import embtune.run.redact as redact_module

    monkeypatch.setattr(redact_module, "_KNOWN", frozenset())
    redact_module.add_secrets(["+foo.token=sk-from-the-job-1", "model=tiny"])
    assert redact_module.scrub("token sk-from-the-job-1 used") == "token <redacted> used"
